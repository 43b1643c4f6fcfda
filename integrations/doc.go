// Package integrations holds TrustFuse's CI integrations: a Jenkins
// shared-library step (jenkins/), a Bitrise step (bitrise/), a CircleCI orb
// (circleci/) and a GitHub Actions composite action (github/), all running
// the one shell script trustfuse-ci.sh (docs/integrations.md). It has no Go
// API: its tests run each integration's shell against the demo app.
package integrations
