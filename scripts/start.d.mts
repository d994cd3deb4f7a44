/** Types of scripts/start.mjs, for the tests that import it. */
export declare function staleReason(base?: string): string | undefined;
