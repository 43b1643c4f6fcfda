package integrations

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// The releases the test serves: good is a GoReleaser-shaped release of the
// locally built trustfuse; tampered lists in its checksums.txt a SHA-256
// that its archive does not have.
const (
	goodVersion     = "9.9.9"
	tamperedVersion = "9.9.8"
	// secret is the keystore password of the wrong-password runs: a string
	// that must not appear in anything the CI would show.
	secret = "wrong-Secret-7f3a9c2e"
	// fixturePass is the password of testdata/keys/*.p12.
	fixturePass = "fixture-pass"
)

// run is one integration run: the settings a user gives the step (in the
// step's own vocabulary, mapped by each ci) and what the run left behind.
type run struct {
	dir       string // scratch directory: the CI's workspace
	in, fs    string // app to protect, Fusion Set
	out       string // protected app
	keystore  string
	password  string // the secret's value, put in the CI's secret store
	reportDir string
	version   string // release to download, or
	bin       string // a preinstalled trustfuse
	baseURL   string // the local release server (TF_RELEASE_URL)
}

// result is what a run produced as the CI would show it.
type result struct {
	rc        int
	log       string   // everything the step printed (the CI's build log)
	shown     string   // everything else the CI shows: summary, outputs, description
	artifacts []string // the files the CI publishes as artifacts
}

// ci runs one integration's shell part the way its CI would.
type ci struct {
	name string
	run  func(t *testing.T, r run) result
}

func TestIntegrations(t *testing.T) {
	root := testenv.Root(t)
	pdftotext := testenv.Tool(t, "pdftotext")
	bin := testenv.Trustfuse(t)
	srv := httptest.NewServer(http.FileServer(http.Dir(makeReleases(t, bin))))
	defer srv.Close()

	cis := []ci{
		{"github", runGitHub},
		{"bitrise", runBitrise},
		{"circleci", runCircleCI},
		{"jenkins", runJenkins},
	}
	cases := []struct {
		name     string
		password string
		version  string
		useBin   bool
		wantRC   int
		wantLog  []string // what the log must say
	}{
		{"download", fixturePass, goodVersion, false, 0,
			[]string{"SHA-256", "matches checksums.txt", "verdict: PROTECTED"}},
		{"preinstalled", fixturePass, "", true, 0,
			[]string{"verdict: PROTECTED"}},
		{"wrong-password", secret, goodVersion, false, 4,
			[]string{"wrong password", "exit code 4: signing credential problem"}},
		{"checksum-mismatch", fixturePass, tamperedVersion, false, 1,
			[]string{"does not match checksums.txt", "refusing to run it"}},
	}
	for _, c := range cis {
		for _, tc := range cases {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				r := run{
					dir:       dir,
					in:        filepath.Join(root, "testdata", "apk", "multidex.apk"),
					fs:        filepath.Join(root, "fusion", "examples", "demo.json"),
					out:       filepath.Join(dir, "dist", "app.secured.apk"),
					keystore:  filepath.Join(root, "testdata", "keys", "rsa-keytool.p12"),
					password:  tc.password,
					reportDir: filepath.Join(dir, "trustfuse-report"),
					version:   tc.version,
					baseURL:   srv.URL,
				}
				if tc.useBin {
					r.bin = bin
				}
				res := c.run(t, r)
				if res.rc != tc.wantRC {
					t.Fatalf("exit code %d, want %d\n%s", res.rc, tc.wantRC, res.log)
				}
				for _, want := range tc.wantLog {
					if !strings.Contains(res.log, want) {
						t.Errorf("log lacks %q\n%s", want, res.log)
					}
				}
				if strings.Contains(res.log+res.shown, r.password) {
					t.Errorf("the secret appears in what the CI shows\n%s\n%s", res.log, res.shown)
				}
				switch tc.wantRC {
				case 0:
					checkArtifacts(t, pdftotext, r, res)
					return
				case 1:
					if strings.Contains(res.log, "running trustfuse") {
						t.Errorf("trustfuse was run from a download that does not match checksums.txt\n%s", res.log)
					}
					if _, err := os.Stat(r.out); err == nil {
						t.Errorf("%s written after a checksum mismatch", r.out)
					}
				}
				if len(res.artifacts) != 0 {
					t.Errorf("artifacts %v published by a failed run", res.artifacts)
				}
				if verdict := fmt.Sprintf("FAILED (exit %d", tc.wantRC); !strings.Contains(res.log+res.shown, verdict) {
					t.Errorf("the CI does not show %q\n%s\n%s", verdict, res.log, res.shown)
				}
			})
		}
	}
}

// checkArtifacts checks a good run: the published report JSON is a DSSE
// envelope whose in-toto subject is the protected app's SHA-256 (computed
// here), the PDF reads (pdftotext) as the report of the demo app's package,
// and the CI shows the verdict.
func checkArtifacts(t *testing.T, pdftotext string, r run, res result) {
	t.Helper()
	var jsonPath, pdfPath string
	for _, a := range res.artifacts {
		switch {
		case strings.HasSuffix(a, ".report.json"):
			jsonPath = a
		case strings.HasSuffix(a, ".report.pdf"):
			pdfPath = a
		}
	}
	if jsonPath == "" || pdfPath == "" {
		t.Fatalf("artifacts %v lack the report JSON or PDF", res.artifacts)
	}
	app, err := os.ReadFile(r.out)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(app)
	var env struct {
		DSSE struct {
			PayloadType string `json:"payloadType"`
			Payload     string `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("%s: %v", jsonPath, err)
	}
	payload, err := base64.StdEncoding.DecodeString(env.DSSE.Payload)
	if err != nil || env.DSSE.PayloadType != "application/vnd.in-toto+json" {
		t.Fatalf("%s: no DSSE in-toto envelope (payloadType %q, %v)", jsonPath, env.DSSE.PayloadType, err)
	}
	var stmt struct {
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
	}
	if err := json.Unmarshal(payload, &stmt); err != nil || len(stmt.Subject) == 0 {
		t.Fatalf("%s: statement without subject (%v)", jsonPath, err)
	}
	if got, want := stmt.Subject[0].Digest["sha256"], hex.EncodeToString(sum[:]); got != want {
		t.Errorf("report subject sha256 %s, protected app %s", got, want)
	}
	text, err := exec.Command(pdftotext, pdfPath, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext %s: %v", pdfPath, err)
	}
	if !strings.Contains(string(text), "io.trustfuse.fixture.multidex") {
		t.Errorf("the PDF report does not name the app's package:\n%s", text)
	}
	if !strings.Contains(res.log+res.shown, "PROTECTED") {
		t.Errorf("the verdict is not shown\n%s\n%s", res.log, res.shown)
	}
}

// makeReleases writes, under a directory served as TF_RELEASE_URL, the two
// releases: v9.9.9 (trustfuse_9.9.9_<os>_<arch>.tar.gz with bin, a README
// and a LICENSE, as GoReleaser packs it, and checksums.txt in sha256sum's
// format) and v9.9.8 (the same archive, listed with another SHA-256).
func makeReleases(t *testing.T, bin string) string {
	t.Helper()
	root := t.TempDir()
	stage := t.TempDir()
	for name, body := range map[string]string{"README.md": "TrustFuse\n", "LICENSE": "test license\n"} {
		if err := os.WriteFile(filepath.Join(stage, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stage, "trustfuse"), raw, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{goodVersion, tamperedVersion} {
		dir := filepath.Join(root, "v"+v)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		archive := fmt.Sprintf("trustfuse_%s_%s_%s.tar.gz", v, runtime.GOOS, runtime.GOARCH)
		path := filepath.Join(dir, archive)
		if out, err := exec.Command("tar", "-czf", path, "-C", stage, "trustfuse", "README.md", "LICENSE").CombinedOutput(); err != nil {
			t.Fatalf("tar: %v\n%s", err, out)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if v == tamperedVersion {
			sum[0] ^= 1
		}
		sums := fmt.Sprintf("%x  trustfuse_%s_other_arch.tar.gz\n%x  %s\n", sha256.Sum256(nil), v, sum, archive)
		if err := os.WriteFile(filepath.Join(dir, "checksums.txt"), []byte(sums), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// yamlFile parses an integration's YAML with PyYAML (Debian python3-yaml)
// and returns it decoded from JSON.
func yamlFile(t *testing.T, path string) map[string]any {
	t.Helper()
	out := testenv.Run(t, "/usr/bin/python3", "-c",
		"import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)", path)
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

// shell runs a CI's shell body with env added to a clean environment
// (PATH, HOME), in dir, and returns its exit code and combined output.
func shell(t *testing.T, dir string, env map[string]string, name string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir, "SOURCE_DATE_EPOCH=1700000000"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, log.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), log.String()
	}
	t.Fatalf("%s: %v", name, err)
	return 0, ""
}

// substitute replaces the expressions re finds in s with vals[name], the
// name being re's first group; a name vals lacks fails t.
func substitute(t *testing.T, re *regexp.Regexp, s string, vals map[string]string) string {
	t.Helper()
	return re.ReplaceAllStringFunc(s, func(m string) string {
		name := re.FindStringSubmatch(m)[1]
		v, ok := vals[name]
		if !ok {
			t.Fatalf("no value for %s", m)
		}
		return v
	})
}

// files lists the report files (*.report.*) in dir, none if dir does not exist.
func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.Contains(e.Name(), ".report.") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// shown returns the contents of the files a CI shows besides its log
// (summary, outputs, description); every run must have written them all.
func shown(t *testing.T, paths ...string) string {
	t.Helper()
	var all strings.Builder
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("the step did not write %s: %v", p, err)
		}
		all.Write(b)
	}
	return all.String()
}

// githubExpr matches the ${{ inputs.NAME }} and ${{ runner.temp }}
// expressions of action.yml.
var githubExpr = regexp.MustCompile(`\$\{\{\s*([a-z.-]+)\s*\}\}`)

// runGitHub runs action.yml's `fuse` step: its env with the expressions
// evaluated for the inputs (defaults from action.yml) and its run body with
// bash under xtrace (SHELLOPTS), with GITHUB_ACTION_PATH, GITHUB_STEP_SUMMARY
// and GITHUB_OUTPUT; the artifacts are what its upload-artifact step's path
// names.
func runGitHub(t *testing.T, r run) result {
	t.Helper()
	doc := yamlFile(t, filepath.Join("github", "action.yml"))
	vals := map[string]string{"runner.temp": r.dir}
	for name, in := range doc["inputs"].(map[string]any) {
		if d, ok := in.(map[string]any)["default"]; ok {
			vals["inputs."+name] = fmt.Sprint(d)
		}
	}
	for k, v := range map[string]string{"in": r.in, "fusion-set": r.fs, "out": r.out, "keystore": r.keystore,
		"keystore-password": r.password, "report-dir": r.reportDir, "version": r.version, "trustfuse-path": r.bin} {
		vals["inputs."+k] = v
	}
	steps := doc["runs"].(map[string]any)["steps"].([]any)
	fuse, upload := steps[0].(map[string]any), steps[1].(map[string]any)
	env := map[string]string{}
	for k, v := range fuse["env"].(map[string]any) {
		env[k] = substitute(t, githubExpr, fmt.Sprint(v), vals)
	}
	body := fuse["run"].(string)
	if githubExpr.MatchString(body) {
		t.Fatalf("action.yml's run body has an expression (script injection, secrets on the command line): %s", body)
	}
	action, err := filepath.Abs("github")
	if err != nil {
		t.Fatal(err)
	}
	summary, outputs := filepath.Join(r.dir, "summary.md"), filepath.Join(r.dir, "output.txt")
	env["GITHUB_ACTION_PATH"], env["GITHUB_STEP_SUMMARY"], env["GITHUB_OUTPUT"] = action, summary, outputs
	env["TF_RELEASE_URL"], env["SHELLOPTS"] = r.baseURL, "xtrace"
	rc, log := shell(t, r.dir, env, "bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", body)
	res := result{rc: rc, log: log, shown: shown(t, summary, outputs)}
	if upload["if"] == "always()" && substitute(t, githubExpr, upload["with"].(map[string]any)["path"].(string), vals) == r.reportDir {
		res.artifacts = files(t, r.reportDir)
	} else {
		t.Errorf("upload-artifact step does not always upload the report dir: %v", upload)
	}
	if rc == 0 && !strings.Contains(res.shown, "| mtls | on | applied |") {
		t.Errorf("step summary lacks the protections table:\n%s", res.shown)
	}
	if !strings.Contains(res.shown, fmt.Sprintf("exit-code=%d", rc)) {
		t.Errorf("GITHUB_OUTPUT lacks exit-code=%d:\n%s", rc, res.shown)
	}
	return res
}

// runBitrise runs step.sh with bash under xtrace, the inputs as Bitrise
// passes them (environment variables named after them; defaults from
// step.yml with $VARS expanded), BITRISE_DEPLOY_DIR, and a fake envman on
// PATH that records its arguments; the artifacts are the deploy dir's.
func runBitrise(t *testing.T, r run) result {
	t.Helper()
	doc := yamlFile(t, filepath.Join("bitrise", "step.yml"))
	deploy := filepath.Join(r.dir, "deploy")
	ciEnv := map[string]string{"BITRISE_DEPLOY_DIR": deploy, "BITRISE_SOURCE_DIR": r.dir, "BITRISE_APK_PATH": r.in}
	env := map[string]string{}
	for k, v := range ciEnv {
		env[k] = v
	}
	for _, in := range doc["inputs"].([]any) {
		for k, v := range in.(map[string]any) {
			if k != "opts" {
				env[k] = os.Expand(fmt.Sprint(v), func(name string) string { return ciEnv[name] })
			}
		}
	}
	for k, v := range map[string]string{"app_path": r.in, "fusion_set": r.fs, "output_path": r.out, "keystore_path": r.keystore,
		"keystore_password": r.password, "report_dir": r.reportDir, "trustfuse_version": r.version, "trustfuse_path": r.bin} {
		env[k] = v
	}
	fake := filepath.Join(r.dir, "fakebin")
	record := filepath.Join(r.dir, "envman.txt")
	if err := os.MkdirAll(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >>" + record + "\n"
	if err := os.WriteFile(filepath.Join(fake, "envman"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	step, err := filepath.Abs(filepath.Join("bitrise", "step.sh"))
	if err != nil {
		t.Fatal(err)
	}
	env["TF_RELEASE_URL"], env["SHELLOPTS"] = r.baseURL, "xtrace"
	env["PATH"] = fake + string(os.PathListSeparator) + os.Getenv("PATH")
	rc, log := shell(t, r.dir, env, "bash", step)
	res := result{rc: rc, log: log, shown: shown(t, record), artifacts: files(t, deploy)}
	if !strings.Contains(res.shown, fmt.Sprintf("add --key TRUSTFUSE_EXIT_CODE --value %d", rc)) {
		t.Errorf("envman not given TRUSTFUSE_EXIT_CODE=%d:\n%s", rc, res.shown)
	}
	if rc == 0 {
		for _, a := range res.artifacts {
			if !strings.Contains(res.shown, "--value "+a) {
				t.Errorf("envman not given the deployed %s:\n%s", a, res.shown)
			}
		}
	}
	return res
}

// orbParam matches << parameters.NAME >> and orbInclude <<include(FILE)>>.
var (
	orbParam   = regexp.MustCompile(`<<\s*parameters\.([a-z-]+)\s*>>`)
	orbInclude = regexp.MustCompile(`<<include\(([^)]+)\)>>`)
)

// runCircleCI runs the orb's `fuse` command: its run step's environment
// with the parameters substituted (defaults from orb.yml), its command with
// the include inlined as `circleci orb pack` does, under CircleCI's default
// shell (/bin/bash -eo pipefail) with xtrace, and the password in the
// environment variable the env_var_name parameter names; the artifacts are
// what store_artifacts' path names.
func runCircleCI(t *testing.T, r run) result {
	t.Helper()
	doc := yamlFile(t, filepath.Join("circleci", "orb.yml"))
	cmd := doc["commands"].(map[string]any)["fuse"].(map[string]any)
	vals := map[string]string{}
	for name, p := range cmd["parameters"].(map[string]any) {
		if d, ok := p.(map[string]any)["default"]; ok {
			vals[name] = fmt.Sprint(d)
		}
	}
	for k, v := range map[string]string{"in": r.in, "fusion-set": r.fs, "out": r.out, "keystore": r.keystore,
		"keystore-password-env": "KS_PASSWORD", "report-dir": r.reportDir, "version": r.version, "trustfuse-path": r.bin} {
		vals[k] = v
	}
	steps := cmd["steps"].([]any)
	runStep := steps[0].(map[string]any)["run"].(map[string]any)
	store := steps[1].(map[string]any)["store_artifacts"].(map[string]any)
	env := map[string]string{"KS_PASSWORD": r.password, "TF_RELEASE_URL": r.baseURL, "SHELLOPTS": "xtrace"}
	for k, v := range runStep["environment"].(map[string]any) {
		env[k] = substitute(t, orbParam, fmt.Sprint(v), vals)
	}
	body := orbInclude.ReplaceAllStringFunc(runStep["command"].(string), func(m string) string {
		b, err := os.ReadFile(filepath.Join("circleci", orbInclude.FindStringSubmatch(m)[1]))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	})
	rc, log := shell(t, r.dir, env, "/bin/bash", "-eo", "pipefail", "-c", body)
	res := result{rc: rc, log: log}
	if substitute(t, orbParam, store["path"].(string), vals) == r.reportDir {
		res.artifacts = files(t, r.reportDir)
	} else {
		t.Errorf("store_artifacts does not store the report dir: %v", store)
	}
	return res
}

// runJenkins does what vars/trustfuseFuse.groovy does, in shell: the
// environment its withEnv and withCredentials set (TF_SCRIPT is the
// library resource, read through its symlink as libraryResource +
// writeFile would copy it), then its sh body, taken from the Groovy text,
// run with `sh -xe` (the sh step's default flags, stricter than the
// shebang the body has). Not executed: the Groovy itself (withEnv,
// withCredentials, libraryResource, writeFile, archiveArtifacts,
// fileExists/readFile, currentBuild.description, error); the test stands in
// for archiveArtifacts (the report dir's files) and the description (the
// verdict file).
func runJenkins(t *testing.T, r run) result {
	t.Helper()
	groovy, err := os.ReadFile(filepath.Join("jenkins", "vars", "trustfuseFuse.groovy"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)sh\(returnStatus: true, script: '''(.*?)'''\)`).FindSubmatch(groovy)
	if m == nil {
		t.Fatal("trustfuseFuse.groovy: no sh(returnStatus: true, script: '''…''') block")
	}
	script, err := filepath.Abs(filepath.Join("jenkins", "resources", "io", "trustfuse", "trustfuse-ci.sh"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"TF_CI": "jenkins", "TF_SCRIPT": script, "TF_BIN": r.bin, "TF_VERSION": r.version,
		"TF_INSTALL_DIR": filepath.Join(r.dir, "trustfuse-"+r.version), "TF_IN": r.in, "TF_FUSION_SET": r.fs,
		"TF_OUT": r.out, "TF_KS_KEY_ALIAS": "", "TF_PROFILE": "", "TF_REPORT_DIR": r.reportDir,
		"TF_KEYSTORE": r.keystore, "TF_KS_PASSWORD": r.password,
	}
	for k := range env {
		if !bytes.Contains(groovy, []byte(k)) {
			t.Fatalf("trustfuseFuse.groovy does not set %s", k)
		}
	}
	env["TF_RELEASE_URL"] = r.baseURL
	rc, log := shell(t, r.dir, env, "sh", "-xe", "-c", string(m[1]))
	return result{rc: rc, log: log, artifacts: files(t, r.reportDir),
		shown: shown(t, filepath.Join(r.reportDir, "trustfuse-verdict.txt"))}
}

// TestYAMLSchemas checks each integration's YAML against the structure its
// CI documents (encoded below: required keys, allowed values, what every
// input/parameter/output needs).
func TestYAMLSchemas(t *testing.T) {
	for _, tc := range []struct {
		file  string
		check func(t *testing.T, doc map[string]any)
	}{
		{"github/action.yml", checkAction},
		{"bitrise/step.yml", checkStep},
		{"circleci/orb.yml", checkOrb},
	} {
		t.Run(tc.file, func(t *testing.T) { tc.check(t, yamlFile(t, tc.file)) })
	}
}

// need fails t unless doc has every key, and returns doc.
func need(t *testing.T, where string, v any, keys ...string) map[string]any {
	t.Helper()
	doc, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: not a mapping: %v", where, v)
	}
	for _, k := range keys {
		if _, ok := doc[k]; !ok {
			t.Errorf("%s: no %q", where, k)
		}
	}
	return doc
}

// checkAction: GitHub's metadata syntax for a composite action: name,
// description, runs.using "composite", runs.steps each with run+shell or
// uses; inputs with description; outputs with description and value.
func checkAction(t *testing.T, doc map[string]any) {
	need(t, "action", doc, "name", "description", "runs")
	for name, in := range need(t, "inputs", doc["inputs"]) {
		need(t, "inputs."+name, in, "description")
	}
	for name, out := range need(t, "outputs", doc["outputs"]) {
		need(t, "outputs."+name, out, "description", "value")
	}
	runs := need(t, "runs", doc["runs"], "using", "steps")
	if runs["using"] != "composite" {
		t.Errorf("runs.using = %v, want composite", runs["using"])
	}
	for i, s := range runs["steps"].([]any) {
		step := need(t, fmt.Sprintf("steps[%d]", i), s)
		_, isRun := step["run"]
		_, isUses := step["uses"]
		switch {
		case isRun == isUses:
			t.Errorf("steps[%d]: needs exactly one of run and uses", i)
		case isRun:
			need(t, fmt.Sprintf("steps[%d]", i), step, "shell")
		}
	}
}

// checkStep: the Bitrise step.yml: title, summary, description, website,
// toolkit.bash.entry_file that exists; every input one key (its env var
// name, a valid one) + opts with title and is_required, is_sensitive only
// as a bool; password inputs sensitive; outputs one key + opts.title.
func checkStep(t *testing.T, doc map[string]any) {
	need(t, "step", doc, "title", "summary", "description", "website", "toolkit", "inputs", "outputs")
	entry := need(t, "toolkit.bash", need(t, "toolkit", doc["toolkit"], "bash")["bash"], "entry_file")["entry_file"]
	if _, err := os.Stat(filepath.Join("bitrise", fmt.Sprint(entry))); err != nil {
		t.Errorf("toolkit.bash.entry_file: %v", err)
	}
	envName := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	for i, raw := range doc["inputs"].([]any) {
		in := need(t, fmt.Sprintf("inputs[%d]", i), raw, "opts")
		if len(in) != 2 {
			t.Errorf("inputs[%d]: want one key besides opts, have %v", i, in)
		}
		opts := need(t, fmt.Sprintf("inputs[%d].opts", i), in["opts"], "title", "is_required")
		for k := range in {
			if k != "opts" && !envName.MatchString(k) {
				t.Errorf("inputs[%d]: %q is not an environment variable name", i, k)
			}
			if k != "opts" && strings.Contains(k, "password") && opts["is_sensitive"] != true {
				t.Errorf("input %s is not is_sensitive", k)
			}
		}
		for _, b := range []string{"is_required", "is_sensitive"} {
			if v, ok := opts[b]; ok {
				if _, isBool := v.(bool); !isBool {
					t.Errorf("inputs[%d].opts.%s = %v, not a bool", i, b, v)
				}
			}
		}
	}
	for i, raw := range doc["outputs"].([]any) {
		out := need(t, fmt.Sprintf("outputs[%d]", i), raw, "opts")
		need(t, fmt.Sprintf("outputs[%d].opts", i), out["opts"], "title")
	}
}

// checkOrb: CircleCI's orb schema (config version 2.1): version 2.1,
// description; commands with steps, jobs with steps and an executor (or
// docker/machine/macos), executors with docker/machine/macos; every
// parameter typed with a known type and a default of that type if given;
// `<< parameters.X >>` only naming declared parameters.
func checkOrb(t *testing.T, doc map[string]any) {
	need(t, "orb", doc, "version", "description", "commands", "jobs", "executors")
	if v := doc["version"]; v != 2.1 {
		t.Errorf("version = %v, want 2.1", v)
	}
	types := map[string]bool{"string": true, "boolean": true, "integer": true, "enum": true, "executor": true, "steps": true, "env_var_name": true}
	params := func(where string, p any) map[string]any {
		ps, _ := p.(map[string]any)
		for name, raw := range ps {
			pm := need(t, where+"."+name, raw, "type", "description")
			if !types[fmt.Sprint(pm["type"])] {
				t.Errorf("%s.%s: unknown type %v", where, name, pm["type"])
			}
			if d, ok := pm["default"]; ok && pm["type"] == "boolean" {
				if _, isBool := d.(bool); !isBool {
					t.Errorf("%s.%s: default %v is not a boolean", where, name, d)
				}
			}
		}
		return ps
	}
	usesParams := func(where string, v any, ps map[string]any) {
		for _, m := range orbParam.FindAllStringSubmatch(fmt.Sprint(v), -1) {
			if _, ok := ps[m[1]]; !ok {
				t.Errorf("%s uses undeclared parameter %s", where, m[1])
			}
		}
	}
	for name, raw := range need(t, "executors", doc["executors"]) {
		ex := need(t, "executors."+name, raw)
		if ex["docker"] == nil && ex["machine"] == nil && ex["macos"] == nil {
			t.Errorf("executors.%s: no docker, machine or macos", name)
		}
		usesParams("executors."+name, ex, params("executors."+name, ex["parameters"]))
	}
	for name, raw := range need(t, "commands", doc["commands"]) {
		c := need(t, "commands."+name, raw, "steps")
		usesParams("commands."+name, c["steps"], params("commands."+name, c["parameters"]))
	}
	for name, raw := range need(t, "jobs", doc["jobs"]) {
		j := need(t, "jobs."+name, raw, "steps")
		if j["executor"] == nil && j["docker"] == nil && j["machine"] == nil && j["macos"] == nil {
			t.Errorf("jobs.%s: no executor", name)
		}
		ps := params("jobs."+name, j["parameters"])
		usesParams("jobs."+name, j["steps"], ps)
		usesParams("jobs."+name, j["executor"], ps)
	}
}

// TestRefusesLiteralPassword runs trustfuse-ci.sh as a plain CI would, with
// a password setting that is the password itself: it stops with exit 2
// before installing anything and does not show the value.
func TestRefusesLiteralPassword(t *testing.T) {
	for _, tc := range []struct{ name, setting string }{
		{"keystore", "TF_KS_PASS"},
		{"key", "TF_KEY_PASS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			script, err := filepath.Abs("trustfuse-ci.sh")
			if err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"TF_IN": "app.apk", "TF_FUSION_SET": "fs.json", "TF_OUT": "out.apk",
				"TF_KEYSTORE": "ks.p12", "TF_KS_PASS": "env:KS", tc.setting: secret, "TF_VERSION": goodVersion,
				"TF_RELEASE_URL": "http://127.0.0.1:1/unreachable"}
			rc, log := shell(t, dir, env, "sh", "-x", script)
			if rc != 2 || !strings.Contains(log, "must be a reference") || strings.Contains(log, "download") {
				t.Errorf("exit %d, want 2 with \"must be a reference\" and no download\n%s", rc, log)
			}
			if strings.Contains(log, secret) {
				t.Errorf("the literal password is shown\n%s", log)
			}
		})
	}
}
