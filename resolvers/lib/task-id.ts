/** Task ids are lowercase UUIDs (util.autoId and crypto.randomUUID both make them). */
export const TASK_ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
