/** Types of scripts/start.mjs, for the tests that import it. */
export declare const STAMP: string;
export declare function staleReason(base?: string): string | undefined;
