package report

import (
	"net/url"
	"strings"
)

// LookupEnv looks up an environment variable, like os.LookupEnv.
type LookupEnv func(name string) (string, bool)

// ciProvider maps one CI system's environment variables to the keys of
// Build.CI.
type ciProvider struct {
	name   string
	detect func(LookupEnv) bool
	vars   [][2]string // {key, variable}
}

// ciProviders are checked in order; the first detected wins. Variable names
// are from each system's documentation of its built-in environment.
func ciProviders() []ciProvider {
	isTrue := func(name string) func(LookupEnv) bool {
		return func(env LookupEnv) bool { v, _ := env(name); return strings.EqualFold(v, "true") }
	}
	set := func(name string) func(LookupEnv) bool {
		return func(env LookupEnv) bool { v, _ := env(name); return v != "" }
	}
	return []ciProvider{
		{"github-actions", isTrue("GITHUB_ACTIONS"), [][2]string{
			{"repository", "GITHUB_REPOSITORY"}, {"workflow", "GITHUB_WORKFLOW"}, {"job", "GITHUB_JOB"},
			{"runId", "GITHUB_RUN_ID"}, {"buildNumber", "GITHUB_RUN_NUMBER"}, {"runAttempt", "GITHUB_RUN_ATTEMPT"},
			{"commit", "GITHUB_SHA"}, {"ref", "GITHUB_REF"},
		}},
		{"jenkins", set("JENKINS_URL"), [][2]string{
			{"job", "JOB_NAME"}, {"buildNumber", "BUILD_NUMBER"}, {"buildUrl", "BUILD_URL"},
			{"commit", "GIT_COMMIT"}, {"ref", "GIT_BRANCH"},
		}},
		{"bitrise", isTrue("BITRISE_IO"), [][2]string{
			{"repository", "BITRISE_APP_TITLE"}, {"workflow", "BITRISE_TRIGGERED_WORKFLOW_ID"},
			{"buildNumber", "BITRISE_BUILD_NUMBER"}, {"buildUrl", "BITRISE_BUILD_URL"},
			{"commit", "BITRISE_GIT_COMMIT"}, {"ref", "BITRISE_GIT_BRANCH"},
		}},
		{"circleci", isTrue("CIRCLECI"), [][2]string{
			{"repository", "CIRCLE_PROJECT_REPONAME"}, {"job", "CIRCLE_JOB"},
			{"buildNumber", "CIRCLE_BUILD_NUM"}, {"buildUrl", "CIRCLE_BUILD_URL"},
			{"commit", "CIRCLE_SHA1"}, {"ref", "CIRCLE_BRANCH"},
		}},
	}
}

// CIContext returns the CI context of the build from env: "provider"
// (github-actions, jenkins, bitrise, circleci) and whichever of
// repository, workflow, job, runId, buildNumber, runAttempt, buildUrl,
// commit and ref the system sets. It returns nil outside CI. For GitHub
// Actions buildUrl is made from GITHUB_SERVER_URL, GITHUB_REPOSITORY and
// GITHUB_RUN_ID. User names and passwords in URLs are removed.
func CIContext(env LookupEnv) map[string]string {
	if env == nil {
		return nil
	}
	for _, p := range ciProviders() {
		if !p.detect(env) {
			continue
		}
		ci := map[string]string{"provider": p.name}
		for _, kv := range p.vars {
			if v, _ := env(kv[1]); v != "" {
				ci[kv[0]] = v
			}
		}
		if p.name == "github-actions" {
			server, _ := env("GITHUB_SERVER_URL")
			if server != "" && ci["repository"] != "" && ci["runId"] != "" {
				ci["buildUrl"] = strings.TrimSuffix(server, "/") + "/" + ci["repository"] + "/actions/runs/" + ci["runId"]
			}
		}
		if u, ok := ci["buildUrl"]; ok {
			if u = withoutUserinfo(u); u == "" {
				delete(ci, "buildUrl")
			} else {
				ci["buildUrl"] = u
			}
		}
		return ci
	}
	return nil
}

// withoutUserinfo drops "user:password@" from a URL; a value that does not
// parse as a URL is dropped entirely rather than risk copying a secret.
func withoutUserinfo(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	u.User = nil
	return u.String()
}
