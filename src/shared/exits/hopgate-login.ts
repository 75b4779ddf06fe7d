/**
 * The one login a `hopgate exit` accepts: its ingresses authenticate as this
 * user with the exit's secret. Here, below both the exit command and the
 * control plane, so an exit added with only its password gets it by default.
 */
export const HOPGATE_EXIT_LOGIN = 'ingress';
