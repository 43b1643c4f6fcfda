package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/keyattest"
	"github.com/trustfuse/trustfuse/pkg/keys"
)

// serveConfig is the JSON file `trustfuse serve --config` reads
// (docs/attestation.md). Unknown fields are errors. Relative paths (and
// file:PATH secret references) are relative to the configuration file's
// directory; secret references are env:NAME, file:PATH or stdin.
type serveConfig struct {
	Listen string `json:"listen"`
	TLS    *struct {
		Cert string `json:"cert"`
		Key  string `json:"key"`
		// ClientCA is the CA (PEM) the apps' client certificates (the
		// Fusion Set's mtls.clientCertificate) chain to: serve then asks
		// for a client certificate, verifies one if given, and binds the
		// token to it (cnf x5t#S256). It does not sign serve's own
		// certificate.
		ClientCA string `json:"clientCA,omitempty"`
	} `json:"tls,omitempty"`
	// Registry is a bbolt file path or a PostgreSQL URL (see
	// attest.IsRegistryURL: a URL is not a path to resolve).
	Registry    string `json:"registry"`
	RegistryKey string `json:"registryKey"`
	SigningKey  string `json:"signingKey"`
	// PublishedKeys are PEM files of other P-256 keys the JWKS lists (public
	// or private): the previous signing key while its tokens live, during a
	// rotation.
	PublishedKeys []string `json:"publishedKeys,omitempty"`
	NonceKey      string   `json:"nonceKey,omitempty"`
	Issuer        string   `json:"issuer"`
	Audience      string   `json:"audience"`
	TokenTTL      string   `json:"tokenTTL"`
	NonceTTL      string   `json:"nonceTTL,omitempty"`
	Redis         string   `json:"redis,omitempty"`
	Debug         bool     `json:"debug,omitempty"`
	// KeyAttestation configures the Android Key Attestation verifier:
	// Roots replaces Google's hardware attestation roots (PEM file),
	// Revocations is a copy of Google's attestation status list (JSON),
	// re-read when the file changes.
	KeyAttestation *struct {
		Roots       string `json:"roots,omitempty"`
		Revocations string `json:"revocations,omitempty"`
	} `json:"keyAttestation,omitempty"`
	// CertificateIssuer turns on POST /v1/certificate: Cert is the client
	// CA's certificate (PEM, then its issuers if any), Key a secret
	// reference to its private key (PEM: PKCS#8, SEC 1 or PKCS#1).
	CertificateIssuer *struct {
		Cert string `json:"cert"`
		Key  string `json:"key"`
	} `json:"certificateIssuer,omitempty"`
}

// errServeConfig marks a server configuration mistake (exit 2).
var errServeConfig = errors.New("serve: configuration")

// errNonceKey marks a nonceKey that does not decode to 32 bytes (exit 4).
var errNonceKey = errors.New("serve: nonce key")

func serveCommand() *cli.Command {
	var config string
	return &cli.Command{
		Name:  "serve",
		Usage: "run the attestation service: challenges, measurement checks, ES256 tokens, JWKS, metrics",
		Description: "Endpoints: POST /v1/challenge, POST /v1/attest, POST /v1/certificate, GET /.well-known/jwks.json, GET /healthz,\nGET /metrics.\n" +
			"The configuration file and the protocol are described in docs/attestation.md. Stops gracefully on\n" +
			"SIGINT/SIGTERM. The listening address is printed to stderr.\n" + flagOrderNote,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "server configuration `FILE` (JSON)", Destination: &config},
		},
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 0, 0); err != nil {
				return err
			}
			if config == "" {
				return usageErrorf(c, "--config is required")
			}
			return runServe(c, config)
		},
	}
}

// serveGCPercent is serve's GOGC unless the environment sets one: an
// attestation allocates tens of KiB and keeps nothing, so with the default
// 100 the collector ran dozens of times a second under load; 400 costs
// about 20 MiB more heap for about 14 % less CPU per attestation
// (docs/benchmarks.md).
const serveGCPercent = 400

func runServe(c *cli.Context, path string) error {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serveGCPercent)
	}
	sc, err := loadServeConfig(path)
	if err != nil {
		return err
	}
	cfg, closeFn, err := sc.build(c)
	if err != nil {
		return err
	}
	defer closeFn()
	srv, err := attest.NewServer(cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", errServeConfig, err)
	}
	hs := attest.NewHTTPServer(sc.Listen, srv.Handler())
	if sc.TLS != nil {
		tc, err := sc.tlsConfig()
		if err != nil {
			return err
		}
		hs.TLSConfig = tc
	}
	l, err := net.Listen("tcp", sc.Listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if hs.TLSConfig != nil {
		l = tls.NewListener(l, hs.TLSConfig)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if sc.CertificateIssuer == nil {
		fmt.Fprintf(c.App.ErrWriter, "%s: certificate issuance off (no certificateIssuer): POST /v1/certificate answers 404\n", appName)
	}
	fmt.Fprintf(c.App.ErrWriter, "%s: serving on %s (kid %s)\n", appName, l.Addr(), srv.KeyID())
	done := make(chan error, 1)
	go func() { done <- hs.Serve(l) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	fmt.Fprintf(c.App.ErrWriter, "%s: stopped\n", appName)
	return nil
}

func (sc *serveConfig) build(c *cli.Context) (attest.Config, func(), error) {
	nop := func() {}
	bad := func(format string, args ...any) (attest.Config, func(), error) {
		return attest.Config{}, nop, fmt.Errorf("%w: %s", errServeConfig, fmt.Sprintf(format, args...))
	}
	if sc.Listen == "" || sc.Registry == "" || sc.RegistryKey == "" || sc.SigningKey == "" {
		return bad("listen, registry, registryKey and signingKey are required")
	}
	ttl, err := time.ParseDuration(sc.TokenTTL)
	if err != nil {
		return bad("tokenTTL %q: %v", sc.TokenTTL, err)
	}
	cfg := attest.Config{Issuer: sc.Issuer, Audience: sc.Audience, TokenTTL: ttl, Debug: sc.Debug}
	if sc.NonceTTL != "" {
		if cfg.NonceTTL, err = time.ParseDuration(sc.NonceTTL); err != nil {
			return bad("nonceTTL %q: %v", sc.NonceTTL, err)
		}
	}
	rk, err := registryKey(c, sc.RegistryKey)
	if err != nil {
		return attest.Config{}, nop, err
	}
	if _, cfg.SigningKey, err = loadP256(sc.SigningKey, "signing key", false); err != nil {
		return attest.Config{}, nop, err
	}
	for _, p := range sc.PublishedKeys {
		pub, _, err := loadP256(p, "publishedKeys", true)
		if err != nil {
			return attest.Config{}, nop, err
		}
		cfg.PublishedKeys = append(cfg.PublishedKeys, pub)
	}
	if cfg.KeyAttestation, err = sc.keyAttestation(); err != nil {
		return attest.Config{}, nop, err
	}
	if cfg.CertificateIssuer, err = sc.certificateIssuer(c); err != nil {
		return attest.Config{}, nop, err
	}
	if sc.NonceKey != "" {
		if cfg.NonceKey, err = nonceKey(c, sc.NonceKey); err != nil {
			return attest.Config{}, nop, err
		}
	} else {
		if sc.Redis != "" {
			return bad("replicas sharing redis must share nonceKey")
		}
		cfg.NonceKey = make([]byte, 32)
		if _, err := rand.Read(cfg.NonceKey); err != nil {
			return attest.Config{}, nop, err
		}
	}
	// The registry is opened once everything local has been checked, so
	// a configuration mistake is reported whatever the registry's state.
	if cfg.Registry, err = attest.OpenRegistry(sc.Registry, rk, false); err != nil {
		return attest.Config{}, nop, err
	}
	cfg.ErrorLog = log.New(c.App.ErrWriter, appName+": ", log.LstdFlags|log.LUTC)
	ok := false
	defer func() {
		if !ok {
			cfg.Registry.Close()
		}
	}()
	if sc.Redis != "" {
		r, err := attest.NewRedisReplay(sc.Redis, "trustfuse:", nil)
		if err != nil {
			return attest.Config{}, nop, err
		}
		cfg.Replay = r
		ok = true
		return cfg, func() { r.Close(); cfg.Registry.Close() }, nil
	}
	cfg.Replay = attest.NewMemoryReplay(1<<20, nil)
	ok = true
	return cfg, func() { cfg.Registry.Close() }, nil
}

// nonceKey resolves and decodes the nonceKey secret reference.
func nonceKey(c *cli.Context, ref string) ([]byte, error) {
	k, err := registryKey(c, ref)
	switch {
	case errors.Is(err, attest.ErrRegistryKey):
		return nil, fmt.Errorf("%w: nonceKey must hold 32 bytes as 64 hex digits or base64 (make one with: openssl rand -hex 32)", errNonceKey)
	case err != nil:
		return nil, fmt.Errorf("nonceKey: %w", err)
	}
	return k, nil
}

// keyAttestation builds the key attestation verifier (Google's roots and
// no revocation list unless configured).
func (sc *serveConfig) keyAttestation() (*keyattest.Verifier, error) {
	roots := keyattest.GoogleRoots()
	var revocations *keyattest.RevocationList
	if k := sc.KeyAttestation; k != nil {
		if k.Roots != "" {
			b, err := os.ReadFile(k.Roots)
			if err != nil {
				return nil, fmt.Errorf("%w: keyAttestation.roots: %w", errServeConfig, err)
			}
			if roots, err = keyattest.ParseCertificatesPEM(b); err != nil || len(roots) == 0 {
				return nil, fmt.Errorf("%w: keyAttestation.roots: %s holds no certificate (%v)", errServeConfig, k.Roots, err)
			}
		}
		if k.Revocations != "" {
			var err error
			if revocations, err = keyattest.LoadRevocationFile(k.Revocations); err != nil {
				return nil, fmt.Errorf("%w: keyAttestation.revocations: %w", errServeConfig, err)
			}
		}
	}
	v, err := keyattest.NewVerifier(roots, revocations)
	if err != nil {
		return nil, fmt.Errorf("%w: keyAttestation: %w", errServeConfig, err)
	}
	return v, nil
}

// certificateIssuer loads the client CA certificate and resolves its key
// (nil when not configured). A key that is missing or does not match the
// certificate is a credential error (exit 4); the rest is checked by
// attest.NewServer (exit 2).
func (sc *serveConfig) certificateIssuer(c *cli.Context) (*attest.CertificateIssuer, error) {
	ci := sc.CertificateIssuer
	if ci == nil {
		return nil, nil
	}
	if ci.Cert == "" || ci.Key == "" {
		return nil, fmt.Errorf("%w: certificateIssuer needs cert (the client CA, PEM) and key (a secret reference: env:NAME, file:PATH or stdin)", errServeConfig)
	}
	certPEM, err := os.ReadFile(ci.Cert)
	if err != nil {
		return nil, fmt.Errorf("%w: certificateIssuer.cert: %w", errServeConfig, err)
	}
	keyPEM, warning, err := keys.ResolveSecret(ci.Key, nil, c.App.Reader)
	if err != nil {
		return nil, fmt.Errorf("certificateIssuer.key: %w", err)
	}
	if warning != "" {
		fmt.Fprintln(c.App.ErrWriter, appName+": warning: certificateIssuer.key: "+warning)
	}
	id, err := keys.LoadPEM(keyPEM, certPEM)
	if err != nil {
		return nil, fmt.Errorf("certificateIssuer (cert %s): %w", ci.Cert, err)
	}
	return &attest.CertificateIssuer{Chain: id.Chain, Key: id.Key}, nil
}

func (sc *serveConfig) tlsConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(sc.TLS.Cert, sc.TLS.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: tls: %w", errServeConfig, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if sc.TLS.ClientCA != "" {
		pool, err := readPool(sc.TLS.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("%w: tls: %w", errServeConfig, err)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

// loadP256 reads a P-256 key from PEM: the first private key block (PKCS#8
// or SEC 1) or, when public is set, also a PUBLIC KEY (SPKI) block. The
// private key is nil when a public key block came first.
func loadP256(path, what string, public bool) (*ecdsa.PublicKey, *ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", errServeConfig, what, err)
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, nil, fmt.Errorf("%w: %s %s: no key block", errServeConfig, what, path)
		}
		var k any
		switch {
		case blk.Type == "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case blk.Type == "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(blk.Bytes)
		case blk.Type == "PUBLIC KEY" && public:
			k, err = x509.ParsePKIXPublicKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s %s: %w", errServeConfig, what, path, err)
		}
		switch k := k.(type) {
		case *ecdsa.PrivateKey:
			if k.Curve == elliptic.P256() {
				return &k.PublicKey, k, nil
			}
		case *ecdsa.PublicKey:
			if k.Curve == elliptic.P256() {
				return k, nil, nil
			}
		}
		return nil, nil, fmt.Errorf("%w: %s %s is not an ECDSA P-256 key", errServeConfig, what, path)
	}
}
