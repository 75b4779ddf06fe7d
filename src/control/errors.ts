/** API errors: a status, a stable code, a message, and the field at fault when there is one. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }

  body(): { error: { code: string; message: string; field?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.field !== undefined ? { field: this.field } : {}) } };
  }
}

export const notFound = (what: string, id: string): ApiError => new ApiError(404, 'not_found', `${what} '${id}' not found`);
