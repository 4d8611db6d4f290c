'use strict'
/**
 * Serverless plugin: every CloudWatch log group of the stack is encrypted with the data key.
 * The framework creates one log group per function and has no setting for its KMS key, and a
 * log group written by hand in resources/*.yml could forget it: so, once the template is whole
 * (resources merged), each AWS::Logs::LogGroup without a KmsKeyId gets the DataKey's ARN. The key
 * policy lets CloudWatch Logs use it for this account's log groups (resources/data-key.yml).
 */
const DATA_KEY_ARN = { 'Fn::GetAtt': ['DataKey', 'Arn'] }

/** Sets KmsKeyId on each log group that has none; returns the logical ids it changed. */
function encryptLogGroups(template) {
  const changed = []
  for (const [id, resource] of Object.entries(template.Resources ?? {})) {
    if (resource.Type !== 'AWS::Logs::LogGroup') continue
    resource.Properties = resource.Properties ?? {}
    if (resource.Properties.KmsKeyId === undefined) {
      resource.Properties.KmsKeyId = DATA_KEY_ARN
      changed.push(id)
    }
  }
  return changed
}

class EncryptLogGroups {
  constructor(serverless) {
    this.hooks = {
      'before:aws:package:finalize:saveServiceState': () => {
        encryptLogGroups(serverless.service.provider.compiledCloudFormationTemplate)
      },
    }
  }
}

module.exports = EncryptLogGroups
module.exports.encryptLogGroups = encryptLogGroups
