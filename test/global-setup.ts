// Placeholder: replaced by the Temporal/PostgreSQL global setup.
export function setup(): void {}
