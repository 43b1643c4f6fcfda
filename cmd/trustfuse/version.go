package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// Set at link time, e.g. by goreleaser:
//
//	go build -ldflags "-X main.version=1.2.3 -X main.commit=$(git rev-parse HEAD) -X main.date=2025-01-02T03:04:05Z" ./cmd/trustfuse
//
// Left at their defaults, they are filled from the VCS stamp Go embeds when
// building from a checkout (see resolveBuild). They are only ever read.
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

// buildInfo is what `trustfuse version` prints. The JSON field names are a
// stable interface: add fields, never rename or remove them.
type buildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Date     string `json:"date"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:      "version",
		Usage:     "print the version, commit, build date and Go version",
		ArgsUsage: " ",
		Flags:     []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 0, 0); err != nil {
				return err
			}
			bi, _ := debug.ReadBuildInfo()
			info := resolveBuild(version, commit, date, bi)
			if wantJSON(c) {
				return writeJSON(c.App.Writer, info)
			}
			_, err := fmt.Fprintf(c.App.Writer, "version:  %s\ncommit:   %s\ndate:     %s\ngo:       %s %s\n",
				info.Version, info.Commit, info.Date, info.Go, info.Platform)
			return err
		},
	}
}

// resolveBuild combines the link-time values with the build information of
// the binary (nil when unavailable). A value set with -ldflags wins; a
// default ("dev", "none", "unknown") is replaced by the module version or the
// VCS revision and commit time, with "-dirty" when the checkout had changes.
func resolveBuild(ldVersion, ldCommit, ldDate string, bi *debug.BuildInfo) buildInfo {
	info := buildInfo{
		Version:  ldVersion,
		Commit:   ldCommit,
		Date:     ldDate,
		Go:       runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi == nil {
		return info
	}
	if info.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	var revision, vcsTime string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			vcsTime = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if info.Commit == "none" && revision != "" {
		info.Commit = revision
		if modified {
			info.Commit += "-dirty"
		}
	}
	if info.Date == "unknown" && vcsTime != "" {
		info.Date = vcsTime
	}
	return info
}
