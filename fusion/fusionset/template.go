package fusionset

import (
	"bytes"
	_ "embed" // the init-fusion-set template
)

//go:embed template.jsonc
var templateJSONC []byte

// Template returns a commented starting Fusion Set, as `trustfuse
// init-fusion-set` prints it: JSON with `//` comments explaining each
// field. It validates once client.p12, its password in
// TRUSTFUSE_CLIENT_P12_PASS and server-ca.pem exist beside it.
func Template() []byte { return bytes.Clone(templateJSONC) }
