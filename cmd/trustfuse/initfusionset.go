package main

import (
	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/fusion/fusionset"
)

func initFusionSetCommand() *cli.Command {
	var schema bool
	return &cli.Command{
		Name:  "init-fusion-set",
		Usage: "print a commented starting Fusion Set (or, with --schema, its JSON Schema)",
		Description: "trustfuse init-fusion-set > fusion.json writes JSON with // comments explaining each field, which\n" +
			"trustfuse validate and fuse accept. It refers to client.p12 (password in TRUSTFUSE_CLIENT_P12_PASS) and\n" +
			"server-ca.pem next to fusion.json: put yours there, or edit the references, then run trustfuse validate fusion.json.\n" +
			"--schema prints the JSON Schema (draft 2020-12) for editors; \"$schema\" may name it in a Fusion Set.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "schema", Usage: "print the Fusion Set JSON Schema instead", Destination: &schema},
		},
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 0, 0); err != nil {
				return err
			}
			out := fusionset.Template()
			if schema {
				out = fusionset.Schema()
			}
			_, err := c.App.Writer.Write(out)
			return err
		},
	}
}
