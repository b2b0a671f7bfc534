#!/usr/bin/env node
// Entry point of `npx autopilot`: registers tsx (no build step) and runs the TypeScript CLI.
import { register } from 'tsx/esm/api';

register();
await import('../cli/autopilot.ts');
