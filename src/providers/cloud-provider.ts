/**
 * What every provider that drives a cloud's API through an SDK holds (aws, azure, ibmcloud): the
 * client its start-up made, its configuration, what start-up learned, a logger under its own
 * component, and the once-per-provider multi-NIC notice. Start-up hands the first three in one record.
 */
import type { Logger } from 'pino';
import { MultiNicNotice } from './create-checks.js';
import type { ProviderHost } from './provider.js';

export interface CloudParts<Api, Config, Settings> {
  api: Api;
  config: Config;
  settings: Settings;
  host: Pick<ProviderHost, 'logger'>;
}

export abstract class CloudProvider<Api, Config, Settings> {
  protected readonly api: Api;
  protected readonly config: Config;
  readonly settings: Settings;
  protected readonly log: Logger;
  protected readonly multiNic: MultiNicNotice;

  /** `component` names the provider in its log lines; `withoutMultiNic` says what an instance gets instead. */
  protected constructor(component: string, withoutMultiNic: string, parts: CloudParts<Api, Config, Settings>) {
    this.api = parts.api;
    this.config = parts.config;
    this.settings = parts.settings;
    this.log = parts.host.logger.child({ component });
    this.multiNic = new MultiNicNotice(component, withoutMultiNic);
  }
}
