package main

import (
	_ "github.com/pavlo-v-chernykh/keystore-go/v4"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/urfave/cli/v2"
	_ "software.sslmate.com/src/go-pkcs12"
)
