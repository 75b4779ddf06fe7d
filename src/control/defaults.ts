/** Defaults shared by the control plane and its clients (no heavy imports here: the admin CLI loads this). */
export const DEFAULT_CONTROL_HOST = '127.0.0.1';
export const DEFAULT_CONTROL_PORT = 7700;
export const DEFAULT_DB_FILE = 'control.sqlite';
export const DEFAULT_STATE_DIR = '.hopgate';
