// THE page registry: one module per page, one line here. A capability that lands later
// (traces, logs, analytics) adds its module and its line.
import overview from './overview.js';
import flags from './flags.js';
import waf from './waf.js';
import secrets from './secrets.js';
import scans from './scans.js';
import traces from './traces.js';
import logs from './logs.js';
import activity from './activity.js';
import users from './users.js';

export const pages = [overview, flags, waf, secrets, scans, traces, logs, activity, users];
