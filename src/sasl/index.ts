export { decodeBase64Strict, encodeBase64 } from './base64.js';
export {
  deriveAllCredentials,
  deriveScramCredential,
  isScramMechanismName,
  preparePassword,
  saltedPassword,
  SCRAM_MECHANISMS,
  verifyPlainPassword,
  type ScramCredential,
  type ScramMechanismName,
} from './credentials.js';
export {
  createPlainServer,
  createSaslServer,
  createScramServer,
  SUPPORTED_MECHANISMS,
  type CredentialLookup,
  type SaslServerMechanism,
  type SaslServerOptions,
  type SaslStepResult,
  type SaslSuccess,
  type SupportedMechanismName,
} from './mechanism.js';
export { prepareNonEmpty, saslprep, SaslprepError, trySaslprep, type SaslprepOptions } from './saslprep.js';
