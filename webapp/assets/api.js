// The app's JSON API. Every POST carries the CSRF token the server put in
// this page's HTML; the page never holds a secret.

const csrf = document.querySelector('meta[name="cohort-csrf"]')?.content || '';

export class ApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

// What each gRPC code means, in plain words, before the node's own message.
const plain = {
  InvalidArgument: 'Something in the form is not right.',
  NotFound: 'Not found.',
  AlreadyExists: 'That already exists.',
  FailedPrecondition: 'Not possible yet.',
  Unauthenticated: 'The node did not accept the credentials (is the buyer token right?).',
  PermissionDenied: 'Refused.',
  ResourceExhausted: 'Refused: a limit or budget is used up.',
  Unavailable: 'The node cannot be reached right now. Is it running, and is the address right?',
  DeadlineExceeded: 'The node took too long to answer.',
  Aborted: 'The node gave up on the request; try again.',
  Unimplemented: 'The node does not offer this.',
  Internal: 'Something went wrong.',
};

export function plainWords(err) {
  if (err instanceof ApiError) return plain[err.code] || 'Something went wrong.';
  return 'The app could not be reached. Is cohort app still running?';
}

async function call(method, path, body, contentType) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-Cohort-CSRF'] = csrf;
  if (contentType) headers['Content-Type'] = contentType;
  let resp;
  try {
    resp = await fetch(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiError('The app did not answer: ' + e.message, 'Unavailable', 0);
  }
  let data = null;
  try {
    data = await resp.json();
  } catch (e) {
    throw new ApiError(`The app answered ${resp.status} without JSON.`, 'Internal', resp.status);
  }
  if (!resp.ok) {
    const e = data && data.error ? data.error : { message: `HTTP ${resp.status}`, code: 'Internal' };
    throw new ApiError(e.message, e.code, resp.status);
  }
  return data;
}

export const api = {
  get: (path) => call('GET', path),
  post: (path, body) => call('POST', path, JSON.stringify(body ?? {}), 'application/json'),
  upload: (path, bytes) => call('POST', path, bytes, 'application/octet-stream'),
};
