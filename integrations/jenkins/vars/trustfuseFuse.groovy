// trustfuseFuse: a Jenkins shared-library step that protects an APK, App
// Bundle or IPA with `trustfuse fuse`, archives the Certified Secure report
// (JSON + PDF), sets the build description to the verdict and fails the
// build on a non-zero exit with its meaning. The shell work is
// integrations/trustfuse-ci.sh (resources/io/trustfuse/trustfuse-ci.sh),
// shared with the other CI integrations. Help: trustfuseFuse.txt.
def call(Map args = [:]) {
    for (key in ['in', 'fusionSet', 'out']) {
        if (!args[key]) {
            error("trustfuseFuse: '${key}' is required")
        }
    }
    String reportDir = args.reportDir ?: 'trustfuse-report'
    String script = "${pwd(tmp: true)}/trustfuse-ci.sh"
    writeFile(file: script, text: libraryResource('io/trustfuse/trustfuse-ci.sh'))

    // Plain settings go through withEnv; secrets only through withCredentials,
    // and the sh body below is a single-quoted Groovy string, so Groovy never
    // interpolates a secret into a command line.
    List settings = [
        'TF_CI=jenkins',
        "TF_SCRIPT=${script}",
        "TF_BIN=${args.trustfusePath ?: ''}",
        "TF_VERSION=${args.version ?: '1.0.0'}",
        "TF_INSTALL_DIR=${pwd(tmp: true)}/trustfuse-${args.version ?: '1.0.0'}",
        "TF_IN=${args.in}",
        "TF_FUSION_SET=${args.fusionSet}",
        "TF_OUT=${args.out}",
        "TF_KS_KEY_ALIAS=${args.keyAlias ?: ''}",
        "TF_PROFILE=${args.profile ?: ''}",
        "TF_REPORT_DIR=${reportDir}",
    ]
    if (args.keystore) {
        settings << "TF_KEYSTORE=${args.keystore}"
    }
    List creds = []
    if (args.keystoreCredentialsId) {
        creds << file(credentialsId: args.keystoreCredentialsId, variable: 'TF_KEYSTORE')
    }
    if (args.keystorePasswordCredentialsId) {
        creds << string(credentialsId: args.keystorePasswordCredentialsId, variable: 'TF_KS_PASSWORD')
    }
    if (args.keyPasswordCredentialsId) {
        creds << string(credentialsId: args.keyPasswordCredentialsId, variable: 'TF_KEY_PASSWORD')
    }

    int rc
    withEnv(settings) {
        withCredentials(creds) {
            rc = sh(returnStatus: true, script: '''#!/bin/sh
set +x
[ -z "${TF_KS_PASSWORD:-}" ] || export TF_KS_PASS=env:TF_KS_PASSWORD
[ -z "${TF_KEY_PASSWORD:-}" ] || export TF_KEY_PASS=env:TF_KEY_PASSWORD
exec sh "$TF_SCRIPT"
''')
        }
    }

    archiveArtifacts(artifacts: "${reportDir}/**", allowEmptyArchive: rc != 0, fingerprint: true)
    String verdictFile = "${reportDir}/trustfuse-verdict.txt"
    String verdict = fileExists(verdictFile) ? readFile(verdictFile).trim() : "TrustFuse FAILED (exit ${rc})"
    currentBuild.description = verdict
    if (rc != 0) {
        error(verdict)
    }
    return verdict
}
