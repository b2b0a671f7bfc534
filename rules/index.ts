// Public surface of the pure core: schemas, types, AppError. Sandbox-cheap; does not re-export engine/.
export { AppError, jsonPath, type ErrorCode, type ErrorContext } from './errors.ts';
