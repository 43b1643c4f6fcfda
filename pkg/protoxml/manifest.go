package protoxml

import (
	"fmt"

	"github.com/trustfuse/trustfuse/pkg/axml"
)

// ParseManifest reads the Manifest view of a decoded module manifest, with
// the same reader as pkg/axml (axml.ReadManifest): android: attributes are
// looked up by resource ID, as the platform does.
func ParseManifest(d *Document) (*axml.Manifest, error) {
	root := d.Root()
	if root == nil {
		return nil, ErrNoRoot
	}
	m, err := axml.ReadManifest(root)
	if err != nil {
		return nil, fmt.Errorf("protoxml: %w", err)
	}
	return m, nil
}

// manifestRoot returns the root element, which must be <manifest>.
func (d *Document) manifestRoot() (*Element, error) {
	root := d.Root()
	if root == nil {
		return nil, ErrNoRoot
	}
	if root.Name() != "manifest" {
		return nil, fmt.Errorf("%w: root is <%s>", ErrNotManifest, root.Name())
	}
	return root, nil
}

// AddUsesPermission adds <uses-permission android:name=perm/> to the manifest
// (before <application>, where aapt2 keeps it) unless it is already there,
// and reports whether it added it.
func (d *Document) AddUsesPermission(perm string) (bool, error) {
	root, err := d.manifestRoot()
	if err != nil {
		return false, err
	}
	for _, p := range root.FindChildren("uses-permission") {
		if v, ok := p.AttrByID(axml.AttrName); ok && v.String() == perm {
			return false, nil
		}
	}
	el, err := d.insertElement(root, root.FindChild("application"), "uses-permission")
	if err != nil {
		return false, err
	}
	if err := d.SetAndroidAttr(el, axml.AttrName, axml.StringValue(perm)); err != nil {
		return false, err
	}
	return true, nil
}

// Module is what the <dist:module> element of a bundle module's manifest
// says about the module (bundletool's reading of it).
type Module struct {
	// Type is dist:type: "asset-pack", "ml-pack", or "" (a feature module,
	// bundletool's default, and the base module).
	Type string
	// Delivery is the first child of <dist:delivery>: "install-time",
	// "on-demand", "fast-follow", or "" when none is given; or, in older
	// manifests, "on-demand" from dist:onDemand="true".
	Delivery string
}

// NSDist is the namespace URI of bundle module attributes (dist:).
const NSDist = "http://schemas.android.com/apk/distribution"

// ReadModule reads the root's <dist:module> child; ok is false when the
// manifest has none.
func ReadModule(d *Document) (mod Module, ok bool, err error) {
	root, err := d.manifestRoot()
	if err != nil {
		return Module{}, false, err
	}
	for _, c := range root.Children() {
		if c.Namespace() != NSDist || c.Name() != "module" {
			continue
		}
		if v, found := c.Attr(NSDist, "type"); found {
			mod.Type = v.String()
		}
		if v, found := c.Attr(NSDist, "onDemand"); found {
			if b, isBool := v.Bool(); isBool && b {
				mod.Delivery = "on-demand"
			}
		}
		for _, dl := range c.Children() {
			if dl.Namespace() == NSDist && dl.Name() == "delivery" {
				if kids := dl.Children(); len(kids) > 0 {
					mod.Delivery = kids[0].Name()
				}
			}
		}
		return mod, true, nil
	}
	return Module{}, false, nil
}
