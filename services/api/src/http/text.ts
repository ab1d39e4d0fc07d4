/**
 * True when a path segment could reach a query safely: Postgres text refuses NUL, and route.ts
 * refuses it in bodies and queries but leaves path ids to each route. Otherwise treat it as unknown.
 */
export const isQueryableText = (value: string, maxLength = 200) => value.length <= maxLength && !value.includes('\u0000');
