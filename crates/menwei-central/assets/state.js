// What several modules read and change, in one object (an imported `let` could not be
// reassigned by its importers). Kept apart from api.js so that nav.js, which api.js calls on a
// 401, can use it without an import cycle.

export const state = {
  // The session is the HttpOnly cookie that login sets; the token from login is also kept here,
  // in memory (never in storage), and sent as a Bearer header for this page's lifetime.
  token: null,
  // The logged-in user (`/api/me` or the login answer), or null.
  me: null,
  // Names of compounds and grids (api.js's loadNames), or null until loaded.
  names: null,
  // Where the login page goes once signed in: the page that sent the user to log in.
  afterLogin: '#/overview',
};
