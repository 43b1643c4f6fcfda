package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/pkg/guard"
)

type guardOptions struct {
	listen, upstream          string
	tlsCert, tlsKey, clientCA string
	jwksURL, jwksCA           string
	issuer, audience          string
	packages                  cli.StringSlice
	tokenHeader               string
	leeway                    time.Duration
	requireBinding            bool
	requireAttestedCert       bool
}

func guardCommand() *cli.Command {
	o := &guardOptions{}
	return &cli.Command{
		Name:  "guard",
		Usage: "reverse proxy letting through only requests with a Fusion Set client certificate and a valid serve token",
		Description: "Terminates TLS, requires a client certificate chaining to --client-ca and a token from `trustfuse serve`\n" +
			"(ES256, checked against --jwks-url; iss, aud, exp/nbf/iat, an allowed --package, and cnf x5t#S256 = the\n" +
			"client certificate when the token has one). Anything else gets a bare 401; the reason is logged on stderr\n" +
			"with a stable code. Accepted requests go to --upstream with X-TrustFuse-Package, -Release, -Version and\n" +
			"-Subject set from the token (and the token header kept). Stops gracefully on SIGINT/SIGTERM. docs/guard.md.\n" +
			flagOrderNote,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: ":8443", Usage: "TLS `ADDRESS` to listen on", Destination: &o.listen},
			&cli.StringFlag{Name: "upstream", Usage: "`URL` of the protected service (http://127.0.0.1:8080)", Destination: &o.upstream},
			&cli.StringFlag{Name: "tls-cert", Usage: "server certificate chain `FILE` (PEM)", Destination: &o.tlsCert},
			&cli.StringFlag{Name: "tls-key", Usage: "server private key `FILE` (PEM)", Destination: &o.tlsKey},
			&cli.StringFlag{Name: "client-ca", Usage: "`FILE` (PEM) of the CA(s) the Fusion Set's client certificates chain to", Destination: &o.clientCA},
			&cli.StringFlag{Name: "jwks-url", Usage: "`URL` of serve's key set (https://attest.example/.well-known/jwks.json)", Destination: &o.jwksURL},
			&cli.StringFlag{Name: "jwks-ca", Usage: "`FILE` (PEM) of the CA to trust for an https --jwks-url (default: system roots)", Destination: &o.jwksCA},
			&cli.StringFlag{Name: "issuer", Usage: "required token issuer (iss)", Destination: &o.issuer},
			&cli.StringFlag{Name: "audience", Usage: "required token audience (aud)", Destination: &o.audience},
			&cli.StringSliceFlag{Name: "package", Usage: "allowed app package name (pkg); repeat for several", Destination: &o.packages},
			&cli.StringFlag{Name: "token-header", Value: guard.DefaultTokenHeader, Usage: "`HEADER` carrying the token (the Fusion Set's attestation.tokenHeader)", Destination: &o.tokenHeader},
			&cli.DurationFlag{Name: "leeway", Value: 30 * time.Second, Usage: "clock skew allowed on exp, nbf and iat", Destination: &o.leeway},
			&cli.BoolFlag{Name: "require-binding", Usage: "refuse tokens without cnf x5t#S256 (not bound to a client certificate)", Destination: &o.requireBinding},
			&cli.BoolFlag{Name: "require-attested-cert", Usage: "accept only client certificates serve issued for an attested device key, with a token bound to it for the same release", Destination: &o.requireAttestedCert},
		},
		Before: func(c *cli.Context) error {
			var missing []string
			for _, f := range []struct{ name, v string }{
				{"--upstream", o.upstream}, {"--tls-cert", o.tlsCert}, {"--tls-key", o.tlsKey},
				{"--client-ca", o.clientCA}, {"--jwks-url", o.jwksURL}, {"--issuer", o.issuer}, {"--audience", o.audience},
			} {
				if f.v == "" {
					missing = append(missing, f.name)
				}
			}
			if len(o.packages.Value()) == 0 {
				missing = append(missing, "--package")
			}
			if len(missing) > 0 {
				return usageErrorf(c, "missing %v", missing)
			}
			if u, err := url.Parse(o.upstream); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usageErrorf(c, "--upstream %q: want an http:// or https:// URL", o.upstream)
			}
			if o.leeway < 0 {
				return usageErrorf(c, "--leeway must not be negative")
			}
			return nil
		},
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 0, 0); err != nil {
				return err
			}
			return o.run(c)
		},
	}
}

// loadPool reads the PEM certificates of file into a pool.
func loadPool(c *cli.Context, flag, file string) (*x509.CertPool, error) {
	pool, err := readPool(file)
	if err != nil {
		return nil, usageErrorf(c, "%s %w", flag, err)
	}
	return pool, nil
}

// jwksError turns a failure to verify serve's certificate while fetching
// --jwks-url into a usage error naming the flag that fixes it; other
// errors are returned as they are.
func (o *guardOptions) jwksError(c *cli.Context, err error) error {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	switch {
	case errors.As(err, &unknown) && o.jwksCA == "":
		return usageErrorf(c, "--jwks-url %s: serve's certificate is signed by a CA the system does not trust: "+
			"pass that CA (PEM) with --jwks-ca FILE (docs/attestation.md, TLS: serve's CA and certificate) (%w)", o.jwksURL, err)
	case errors.As(err, &unknown):
		return usageErrorf(c, "--jwks-url %s: serve's certificate does not chain to --jwks-ca %s: "+
			"pass the CA that signed serve's tls.cert (%w)", o.jwksURL, o.jwksCA, err)
	case errors.As(err, &host):
		return usageErrorf(c, "--jwks-url %s: serve's certificate is not valid for %s: "+
			"use a host its subjectAltName names in --jwks-url, or reissue it for this one (%w)", o.jwksURL, host.Host, err)
	}
	return err
}

// readPool reads a PEM file of CA certificates into a pool; a file holding
// none is an error.
func readPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return pool, nil
}

func (o *guardOptions) run(c *cli.Context) error {
	ctx := c.Context
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
	upstream, _ := url.Parse(o.upstream) // checked in Before
	serverCert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
	if err != nil {
		return usageErrorf(c, "--tls-cert/--tls-key: %w", err)
	}
	clientCAs, err := loadPool(c, "--client-ca", o.clientCA)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	if o.jwksCA != "" {
		roots, err := loadPool(c, "--jwks-ca", o.jwksCA)
		if err != nil {
			return err
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		hc.Transport = tr
	}
	g, err := guard.New(ctx, guard.Config{
		ClientCAs: clientCAs, JWKSURL: o.jwksURL, Issuer: o.issuer, Audience: o.audience,
		Packages: o.packages.Value(), TokenHeader: o.tokenHeader, Leeway: o.leeway,
		RequireBinding: o.requireBinding, RequireAttestedCert: o.requireAttestedCert, HTTPClient: hc, Logger: log,
	})
	if errors.Is(err, guard.ErrConfig) {
		return usageErrorf(c, "%w", err)
	}
	if err != nil {
		return o.jwksError(c, err)
	}
	srv := &http.Server{
		Handler: g.Middleware(guard.NewReverseProxy(upstream, log)),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{serverCert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    clientCAs,
			MinVersion:   tls.VersionTLS12,
		},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("guard: %w", err)
	}
	log.Info("guard: listening", slog.String("addr", ln.Addr().String()), slog.String("upstream", upstream.Redacted()))
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-done:
		return fmt.Errorf("guard: %w", err)
	case <-ctx.Done():
	}
	log.Info("guard: shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("guard: shutdown: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("guard: %w", err)
	}
	return nil
}
