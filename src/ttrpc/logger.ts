/** The slice of a pino logger the protocol layer uses, so it can be handed any child logger. */
export interface TtrpcLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: TtrpcLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
