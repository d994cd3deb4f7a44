/** The peer-pods mutating admission webhook (reference §5.2): `cloud-api-adaptor webhook`. */
export { admit, parseAdmissionReview, reviewAdmission, type AdmissionDecision, type AdmissionRequest, type AdmissionReviewResponse } from './admission.js';
export { CertificateWatcher, loadServingCertificate, type ServingCertificate } from './certificates.js';
export { flagsByName, loadWebhookConfig, webhookOptions, type WebhookConfig } from './config.js';
export { QuantityError, WebhookError, WebhookErrorCode, isWebhookError } from './errors.js';
export {
  ANNOTATION_GPUS,
  ANNOTATION_MEMORY,
  ANNOTATION_VCPUS,
  DEFAULT_POD_VM_EXTENDED_RESOURCE,
  DEFAULT_TARGET_RUNTIMECLASS,
  mutatePod,
  type JsonPatchOperation,
  type MutateOptions,
  type PodMutation,
} from './mutate.js';
export { addQuantities, ceilInUnits, compareQuantities, parseQuantity, type Quantity } from './quantity.js';
export { HEALTH_PATH, MUTATE_PATH, WebhookServer, type WebhookServerOptions } from './server.js';
