package report

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"github.com/boombuler/barcode/qr"
)

// Page geometry of the PDF report, in millimetres (A4 portrait).
const (
	pdfPageW        = 210.0
	pdfPageH        = 297.0
	pdfMargin       = 15.0
	pdfTop          = 20.0 // top margin: leaves room for the running header
	pdfBottom       = 18.0 // auto page break margin: leaves room for the footer
	pdfContentW     = pdfPageW - 2*pdfMargin
	pdfLabelW       = 44.0 // label column of key/value blocks
	pdfValueW       = pdfContentW - pdfLabelW
	pdfQRSize       = 48.0 // printed size of the QR code
	pdfQRModulePx   = 8    // image pixels per QR module: poppler then only ever scales down
	pdfQRQuiet      = 4    // quiet zone around the QR code, in modules (ISO/IEC 18004)
	pdfVerdictH     = 26.0 // height of the verdict box on the cover
	pdfMaxCellLines = 4    // lines shown in one cell of the protections table
)

// Colours (RGB). Tests look for the status fills in pdftoppm renderings.
var (
	pdfGreen = [3]int{30, 130, 60}
	pdfRed   = [3]int{200, 40, 40}
	pdfGrey  = [3]int{128, 128, 128}
	pdfAmber = [3]int{200, 120, 0}
	pdfInk   = [3]int{20, 20, 20}
	pdfMuted = [3]int{90, 90, 90}
	pdfRule  = [3]int{200, 200, 200}
)

// pdfPagesAlias stands for the page count until the document is closed. It
// holds a control character, which the translator never lets through from
// the statement, so no field can be mistaken for it.
const pdfPagesAlias = "{\x01nb}"

// pdfDateLayout is how dates are printed in the report body.
const pdfDateLayout = "2006-01-02 15:04:05 UTC"

// RenderPDF writes report.pdf, the human-readable form of the Certified
// Secure report, to w. It reads nothing but st (the statement inside
// report.json), so the PDF never shows anything the signed JSON does not say.
//
// The cover carries the package, version, verdict, build date, Fusion Set,
// input and output files and a QR code of "sha256:<output digest>"; the
// following pages list the protections with their evidence, hashes, the client
// certificate (public part only), the attestation registration, the
// verification, the build and the limits. Every page has "Page N of M".
//
// The bytes are a function of st alone (for a given Go toolchain and fpdf
// version): the PDF creation and modification dates are st's build time
// (SOURCE_DATE_EPOCH upstream), resource catalogs are sorted, and no
// document ID is written. Only the core fonts (Helvetica, Courier) are used,
// so no font files are needed; text is converted to cp1252, the encoding of
// those fonts, and a character cp1252 does not have is printed as '?'.
func RenderPDF(st *Statement, w io.Writer) error {
	return renderPDF(st, w, true)
}

// renderPDF is RenderPDF with page compression switchable, so tests can
// compare content streams in the clear.
func renderPDF(st *Statement, w io.Writer, compress bool) error {
	if st == nil {
		return errors.New("report: render pdf: nil statement")
	}
	f := fpdf.New("P", "mm", "A4", "")
	d := &pdfDoc{f: f, st: st, p: &st.Predicate}
	d.tr = pdfTranslator(f, &d.lossy)

	// Determinism: fpdf stamps time.Now() unless the dates are set, and walks
	// its font and image maps in random order unless catalog sorting is on.
	// It writes a trailer /ID only when encrypting, which we never do; zlib
	// compression is deterministic.
	when := st.Predicate.Build.Time.UTC()
	if st.Predicate.Build.Time.IsZero() {
		when = time.Unix(0, 0).UTC()
	}
	f.SetCreationDate(when)
	f.SetModificationDate(when)
	f.SetCatalogSort(true)
	f.SetCompression(compress)

	tool := st.Predicate.Build.Tool
	if tool == "" {
		tool = "trustfuse"
	}
	// Metadata strings are written as UTF-16 by fpdf, so they keep any
	// script; fpdf's UTF-16 conversion panics on invalid UTF-8, hence
	// ToValidUTF8 (found by FuzzRenderPDF).
	meta := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	f.SetTitle(meta("Certified Secure report: "+d.p.Output.Package+" "+d.p.Output.VersionName), true)
	f.SetSubject(PredicateType, true)
	f.SetCreator(meta(strings.TrimSpace(tool+" "+st.Predicate.Build.Version)), true)
	f.SetMargins(pdfMargin, pdfTop, pdfMargin)
	f.SetAutoPageBreak(true, pdfBottom)
	f.AliasNbPages(pdfPagesAlias)
	f.SetHeaderFunc(d.header)
	f.SetFooterFunc(d.footer)

	d.cover()
	f.AddPage()
	d.protections()
	d.hashes()
	d.certificate()
	d.attestation()
	d.verification()
	d.build()
	d.limits()
	if d.lossy {
		d.f.Ln(4)
		d.para("Characters the PDF core fonts cannot show (outside Windows-1252) are printed as '?'; "+
			"report.json holds the exact text.", false, 8, pdfMuted, 0)
	}

	if err := f.Output(w); err != nil {
		return fmt.Errorf("report: render pdf: %w", err)
	}
	return nil
}

// pdfDoc is one report being drawn.
type pdfDoc struct {
	f  *fpdf.Fpdf
	st *Statement
	p  *Predicate
	tr func(string) string // UTF-8 to cp1252
	// lossy is set when tr printed '?' for a character cp1252 lacks.
	lossy bool
}

// pdfTranslator returns a UTF-8 to cp1252 converter for the core fonts.
// fpdf's own translator prints '.' for a character cp1252 lacks (an app or
// Fusion Set name in Japanese, say); this one prints '?' so the loss is
// visible, turns tabs into spaces and other control characters into '?', and
// sets *lossy when it replaced anything.
func pdfTranslator(f *fpdf.Fpdf, lossy *bool) func(string) string {
	cp := f.UnicodeTranslatorFromDescriptor("cp1252")
	return func(s string) string {
		var b strings.Builder
		b.Grow(len(s))
		for _, r := range s {
			switch {
			case r == '\t':
				b.WriteByte(' ')
			case r == '\n':
				b.WriteByte('\n')
			case r < 0x20 || r == 0x7f:
				b.WriteByte('?')
				*lossy = true
			case r < 0x80:
				b.WriteRune(r)
			default:
				if c := cp(string(r)); c != "." {
					b.WriteString(c)
				} else {
					b.WriteByte('?')
					*lossy = true
				}
			}
		}
		return b.String()
	}
}

// pdfVerdict says whether the report may be called verified: the output
// passed self-verification and every protection is applied or deliberately
// off. The reasons say what is missing otherwise.
func pdfVerdict(p *Predicate) (bool, []string) {
	var why []string
	if !p.Verification.Verified {
		why = append(why, "the output failed self-verification")
	}
	if len(p.Protections) == 0 {
		why = append(why, "no protections are recorded")
	}
	for _, pr := range p.Protections {
		if pr.Status == "applied" || (pr.Status == "skipped" && pr.Mode == "off") {
			continue
		}
		s := fmt.Sprintf("protection %s is %s (mode %s)", pr.ID, pr.Status, pr.Mode)
		if r := pr.Evidence["reason"]; r != "" {
			s += ": " + r
		}
		why = append(why, s)
	}
	return len(why) == 0, why
}

// outputDigest is the output's sha256, from the predicate or else the subject.
func (d *pdfDoc) outputDigest() string {
	if d.p.Output.SHA256 != "" {
		return d.p.Output.SHA256
	}
	for _, s := range d.st.Subject {
		if v := s.Digest["sha256"]; v != "" {
			return v
		}
	}
	return ""
}

// --- drawing primitives ---

func (d *pdfDoc) color(c [3]int) { d.f.SetTextColor(c[0], c[1], c[2]) }
func (d *pdfDoc) fill(c [3]int)  { d.f.SetFillColor(c[0], c[1], c[2]) }

// ensure starts a new page unless h millimetres fit above the footer.
func (d *pdfDoc) ensure(h float64) {
	if d.f.GetY()+h > pdfPageH-pdfBottom {
		d.f.AddPage()
	}
}

// wrap splits s (already cp1252) into lines that fit, in the current font, a
// cell of width w (less fpdf's cell margin on both sides). It breaks after
// spaces and commas, and inside a word (a hex digest, say) that is too wide
// on its own, so nothing runs off the page.
func (d *pdfDoc) wrap(s string, w float64) []string {
	w -= 2 * d.f.GetCellMargin()
	// Core fonts are single-byte: a table of glyph widths keeps this linear.
	var cw [256]float64
	for i := range cw {
		cw[i] = d.f.GetStringWidth(string([]byte{byte(i)}))
	}
	width := func(s string) float64 {
		x := 0.0
		for i := 0; i < len(s); i++ {
			x += cw[s[i]]
		}
		return x
	}
	var lines []string
	flush := func(s string) { lines = append(lines, strings.TrimRight(s, " ")) }
	for _, para := range strings.Split(s, "\n") {
		line, lineW := "", 0.0
		for _, word := range pdfWords(para) {
			ww, trail := width(word), 0.0
			if strings.HasSuffix(word, " ") {
				trail = cw[' ']
			}
			if lineW+ww-trail <= w {
				line, lineW = line+word, lineW+ww
				continue
			}
			if line != "" {
				flush(line)
			}
			for len(word) > 0 && ww-trail > w {
				n, x := 0, 0.0
				for n < len(word) && x+cw[word[n]] <= w {
					x += cw[word[n]]
					n++
				}
				if n == 0 {
					n, x = 1, cw[word[0]]
				}
				flush(word[:n])
				word, ww = word[n:], ww-x
			}
			line, lineW = word, ww
		}
		flush(line)
	}
	return lines
}

// pdfWords splits s after each space and comma, keeping the separators.
func pdfWords(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == ',' {
			out = append(out, s[start:i+1])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// font selects a font: mono picks Courier, otherwise Helvetica.
func (d *pdfDoc) font(mono bool, style string, size float64) {
	if mono {
		d.f.SetFont("Courier", style, size)
	} else {
		d.f.SetFont("Helvetica", style, size)
	}
}

// lineH is the line height for a font size in points.
func pdfLineH(size float64) float64 { return size * 0.3528 * 1.35 }

// heading starts a section, on a new page if the heading and a few lines
// would not fit.
func (d *pdfDoc) heading(title string) {
	d.ensure(24)
	d.f.Ln(3)
	d.font(false, "B", 13)
	d.color(pdfInk)
	d.f.CellFormat(pdfContentW, 7, d.tr(title), "", 1, "L", false, 0, "")
	c := pdfRule
	d.f.SetDrawColor(c[0], c[1], c[2])
	d.f.SetLineWidth(0.3)
	y := d.f.GetY() + 0.5
	d.f.Line(pdfMargin, y, pdfMargin+pdfContentW, y)
	d.f.Ln(2.5)
}

// subheading is a smaller heading inside a section.
func (d *pdfDoc) subheading(title string) {
	d.ensure(14)
	d.f.Ln(1.5)
	d.font(false, "B", 10)
	d.color(pdfMuted)
	d.f.CellFormat(pdfContentW, 5.5, d.tr(title), "", 1, "L", false, 0, "")
}

// kv prints a label and a wrapped value; mono sets the value in Courier.
func (d *pdfDoc) kv(label, value string, mono bool) {
	d.kvColor(label, value, mono, pdfInk)
}

// kvColor is kv with the value in colour c.
func (d *pdfDoc) kvColor(label, value string, mono bool, c [3]int) {
	size := 9.0
	if mono {
		size = 8
	}
	if value == "" {
		value = "-"
		mono = false
	}
	d.font(mono, "", size)
	lines := d.wrap(d.tr(value), pdfValueW)
	d.font(false, "B", 8.5)
	labels := d.wrap(d.tr(label), pdfLabelW)
	h := pdfLineH(size)
	n := max(len(lines), len(labels))
	// Keep the label with its value unless the two exceed a page.
	d.ensure(min(float64(n)*h, pdfPageH-pdfTop-pdfBottom))
	for i := range n {
		d.ensure(h)
		d.f.SetX(pdfMargin)
		if i < len(labels) {
			d.font(false, "B", 8.5)
			d.color(pdfMuted)
			d.f.CellFormat(pdfLabelW, h, labels[i], "", 0, "L", false, 0, "")
		}
		d.f.SetX(pdfMargin + pdfLabelW)
		if i < len(lines) {
			d.font(mono, "", size)
			d.color(c)
			d.f.CellFormat(pdfValueW, h, lines[i], "", 0, "L", false, 0, "")
		}
		d.f.Ln(h)
	}
}

// clip keeps at most n of lines, ending the last kept one with "..." (in a
// cell of width w, current font) when some were dropped. It reports whether
// it dropped any.
func (d *pdfDoc) clip(lines []string, n int, w float64) ([]string, bool) {
	if len(lines) <= n {
		return lines, false
	}
	out := append([]string(nil), lines[:n]...)
	last := out[n-1]
	for last != "" && d.f.GetStringWidth(last+"...") > w-2*d.f.GetCellMargin() {
		last = last[:len(last)-1]
	}
	out[n-1] = last + "..."
	return out, true
}

// kvList prints one value per line under one label.
func (d *pdfDoc) kvList(label string, values []string, mono bool) {
	if len(values) == 0 {
		d.kv(label, "none", false)
		return
	}
	for i, v := range values {
		if i > 0 {
			label = ""
		}
		d.kv(label, v, mono)
	}
}

// para prints wrapped text across the full width, indented by indent.
func (d *pdfDoc) para(text string, mono bool, size float64, c [3]int, indent float64) {
	d.font(mono, "", size)
	h := pdfLineH(size)
	for _, ln := range d.wrap(d.tr(text), pdfContentW-indent) {
		d.ensure(h)
		d.f.SetX(pdfMargin + indent)
		d.color(c)
		d.f.CellFormat(pdfContentW-indent, h, ln, "", 1, "L", false, 0, "")
	}
}

// --- running header and footer ---

func (d *pdfDoc) header() {
	if d.f.PageNo() == 1 {
		return
	}
	d.font(false, "", 8)
	d.color(pdfMuted)
	d.f.SetXY(pdfMargin, 8)
	t := "Certified Secure report - " + d.p.Output.Package + " " + d.p.Output.VersionName
	t1, _ := d.clip(d.wrap(d.tr(t), pdfContentW), 1, pdfContentW)
	d.f.CellFormat(pdfContentW, 4, t1[0], "", 0, "L", false, 0, "")
	c := pdfRule
	d.f.SetDrawColor(c[0], c[1], c[2])
	d.f.SetLineWidth(0.2)
	d.f.Line(pdfMargin, 13, pdfMargin+pdfContentW, 13)
	d.f.SetY(pdfTop)
}

func (d *pdfDoc) footer() {
	d.f.SetY(-12)
	d.font(false, "", 8)
	d.color(pdfMuted)
	d.f.SetX(pdfMargin)
	left := "Rendered from report.json; the signed JSON is authoritative."
	d.f.CellFormat(pdfContentW/2, 4, d.tr(left), "", 0, "L", false, 0, "")
	// Left-aligned at a fixed place: the alias is wider than the count it
	// stands for, so right alignment would be off.
	page := "Page " + strconv.Itoa(d.f.PageNo()) + " of " + pdfPagesAlias
	d.f.SetX(pdfPageW - pdfMargin - 28)
	d.f.CellFormat(28, 4, page, "", 0, "L", false, 0, "")
}

// --- cover ---

func (d *pdfDoc) cover() {
	f, p := d.f, d.p
	f.AddPage()
	f.SetY(pdfMargin)

	d.font(false, "B", 24)
	d.color(pdfInk)
	f.CellFormat(pdfContentW, 11, "Certified Secure report", "", 1, "L", false, 0, "")
	tool := strings.TrimSpace(p.Build.Tool + " " + p.Build.Version)
	if tool == "" {
		tool = "an unrecorded tool"
	}
	d.para("Issued by "+tool+" - "+PredicateType, false, 8.5, pdfMuted, 0)
	f.Ln(3)

	if p.Build.DemoKey {
		d.fill(pdfRed)
		y := f.GetY()
		f.Rect(pdfMargin, y, pdfContentW, 15, "F")
		f.SetXY(pdfMargin+3, y+1.5)
		d.font(false, "B", 12)
		f.SetTextColor(255, 255, 255)
		f.CellFormat(pdfContentW-6, 6, "DEMO KEY - NOT FOR RELEASE", "", 2, "L", false, 0, "")
		d.font(false, "", 8.5)
		f.CellFormat(pdfContentW-6, 5, d.tr("Signed with the built-in demo key, which is public. "+
			"Re-run fuse with your own signing key before publishing this app."), "", 1, "L", false, 0, "")
		f.SetY(y + 18)
	}

	d.font(false, "", 8.5)
	d.color(pdfMuted)
	f.CellFormat(pdfContentW, 4.5, "Package", "", 1, "L", false, 0, "")
	d.font(false, "B", 17)
	d.color(pdfInk)
	for _, ln := range d.wrap(d.tr(pdfOrDash(p.Output.Package)), pdfContentW) {
		f.CellFormat(pdfContentW, 8, ln, "", 1, "L", false, 0, "")
	}
	d.font(false, "", 11)
	ver := fmt.Sprintf("Version %s (versionCode %d), minSdk %d", pdfOrDash(p.Output.VersionName), p.Output.VersionCode, p.Output.MinSDK)
	for _, ln := range d.wrap(d.tr(ver), pdfContentW) {
		f.CellFormat(pdfContentW, 6, ln, "", 1, "L", false, 0, "")
	}
	f.Ln(4)

	ok, why := pdfVerdict(p)
	word, c := "NOT VERIFIED", pdfRed
	if ok {
		word, c = "VERIFIED", pdfGreen
	}
	y := f.GetY()
	d.fill(c)
	f.Rect(pdfMargin, y, pdfContentW, pdfVerdictH, "F")
	f.SetXY(pdfMargin, y+3)
	d.font(false, "B", 30)
	f.SetTextColor(255, 255, 255)
	f.CellFormat(pdfContentW, 13, word, "", 2, "C", false, 0, "")
	d.font(false, "", 9)
	applied, off := 0, 0
	for _, pr := range p.Protections {
		switch {
		case pr.Status == "applied":
			applied++
		case pr.Status == "skipped" && pr.Mode == "off":
			off++
		}
	}
	sub := fmt.Sprintf("%d of %d protections applied, %d off by choice; output verification %s",
		applied, len(p.Protections), off, map[bool]string{true: "passed", false: "FAILED"}[p.Verification.Verified])
	f.CellFormat(pdfContentW, 6, d.tr(sub), "", 1, "C", false, 0, "")
	f.SetY(y + pdfVerdictH + 2)
	const maxReasons = 6
	for i, r := range why {
		if i == maxReasons {
			d.para(fmt.Sprintf("... and %d more: see Protections.", len(why)-maxReasons), false, 8.5, pdfRed, 0)
			break
		}
		d.para("- "+r, false, 8.5, pdfRed, 0)
	}
	f.Ln(3)

	d.kv("Build date", pdfDate(p.Build.Time), false)
	d.kv("Fusion Set", p.FusionSet.ID, false)
	d.kv("Fusion Set name", p.FusionSet.Name, false)
	d.kv("Fusion Set version", strconv.Itoa(p.FusionSet.Version), false)
	d.kv("Fusion Set sha256", p.FusionSet.SHA256, true)
	d.kv("Input file", p.Input.File, false)
	d.kv("Output file", p.Output.File, false)

	digest := d.outputDigest()
	if digest == "" {
		f.Ln(4)
		d.para("No output digest is recorded: no QR code.", false, 9, pdfRed, 0)
		return
	}
	d.qr("sha256:" + digest)
}

// qr draws the QR code of content, centred, with content printed beneath.
func (d *pdfDoc) qr(content string) {
	f := d.f
	img, err := pdfQRPNG(content)
	if err != nil {
		// Only a digest far longer than any hash gets here: print it anyway.
		f.Ln(4)
		d.para("Output digest (no QR code: "+err.Error()+")", false, 8, pdfRed, 0)
		d.para(content, true, 8, pdfInk, 0)
		return
	}
	d.font(true, "", 8)
	lines := d.wrap(d.tr(content), pdfContentW)
	d.ensure(6 + pdfQRSize + 5 + float64(len(lines))*pdfLineH(8))
	f.Ln(6)
	opt := fpdf.ImageOptions{ImageType: "PNG"}
	f.RegisterImageOptionsReader("qr-output-digest", opt, bytes.NewReader(img))
	y := f.GetY()
	f.ImageOptions("qr-output-digest", (pdfPageW-pdfQRSize)/2, y, pdfQRSize, pdfQRSize, false, opt, 0, "")
	f.SetY(y + pdfQRSize + 1)
	d.font(false, "", 8)
	d.color(pdfMuted)
	f.CellFormat(pdfContentW, 4.5, "Output digest (the QR code carries this text)", "", 1, "C", false, 0, "")
	d.font(true, "", 8)
	d.color(pdfInk)
	for _, ln := range lines {
		f.CellFormat(pdfContentW, pdfLineH(8), ln, "", 1, "C", false, 0, "")
	}
}

// pdfQRPNG encodes content as a QR code (byte mode, error correction M) and
// draws it as a greyscale PNG with a quiet zone, pdfQRModulePx pixels per
// module.
func pdfQRPNG(content string) ([]byte, error) {
	code, err := qr.Encode(content, qr.M, qr.Unicode)
	if err != nil {
		return nil, err
	}
	n := code.Bounds().Dx()
	side := (n + 2*pdfQRQuiet) * pdfQRModulePx
	img := image.NewGray(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for my := 0; my < n; my++ {
		for mx := 0; mx < n; mx++ {
			if color.GrayModel.Convert(code.At(mx, my)).(color.Gray).Y >= 0x80 {
				continue
			}
			x0, y0 := (mx+pdfQRQuiet)*pdfQRModulePx, (my+pdfQRQuiet)*pdfQRModulePx
			for y := y0; y < y0+pdfQRModulePx; y++ {
				row := img.Pix[y*img.Stride:]
				for x := x0; x < x0+pdfQRModulePx; x++ {
					row[x] = 0
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// --- body sections ---

// Column widths of the protections table.
const (
	pdfColID     = 34.0
	pdfColTitle  = 88.0
	pdfColMode   = 28.0
	pdfColStatus = pdfContentW - pdfColID - pdfColTitle - pdfColMode
)

func pdfStatusColor(status string) [3]int {
	switch status {
	case "applied":
		return pdfGreen
	case "skipped":
		return pdfGrey
	case "failed":
		return pdfRed
	}
	return pdfAmber
}

func (d *pdfDoc) protectionsHeader() {
	f := d.f
	d.fill([3]int{60, 60, 60})
	d.font(false, "B", 9)
	f.SetTextColor(255, 255, 255)
	f.SetX(pdfMargin)
	for _, c := range []struct {
		w float64
		t string
	}{{pdfColID, "ID"}, {pdfColTitle, "Protection"}, {pdfColMode, "Mode"}, {pdfColStatus, "Status"}} {
		f.CellFormat(c.w, 6, c.t, "", 0, "L", true, 0, "")
	}
	f.Ln(6)
}

func (d *pdfDoc) protections() {
	f := d.f
	d.heading("Protections")
	if len(d.p.Protections) == 0 {
		d.para("No protections are recorded.", false, 9, pdfRed, 0)
		return
	}
	d.protectionsHeader()
	const size = 9.0
	h := pdfLineH(size)
	for _, pr := range d.p.Protections {
		// A cell shows at most pdfMaxCellLines lines; a longer value is
		// printed in full beneath the row, with the evidence.
		var full []string
		cellLines := func(label, v string, style string, w float64) []string {
			d.font(false, style, size)
			lines, cut := d.clip(d.wrap(d.tr(v), w), pdfMaxCellLines, w)
			if cut {
				full = append(full, label+" (in full): "+v)
			}
			return lines
		}
		idLines := cellLines("id", pr.ID, "B", pdfColID-2)
		titleLines := cellLines("title", pdfOrDash(pr.Title), "", pdfColTitle-2)
		modeLines := cellLines("mode", pdfOrDash(pr.Mode), "", pdfColMode-2)
		statusLines := cellLines("status", strings.ToUpper(pdfOrDash(pr.Status)), "B", pdfColStatus-2)
		n := max(len(idLines), len(titleLines), len(modeLines), len(statusLines))
		rowH := float64(n)*h + 2
		if f.GetY()+rowH+2*pdfLineH(7) > pdfPageH-pdfBottom {
			f.AddPage()
			d.protectionsHeader()
		}
		y := f.GetY()
		x := pdfMargin
		cell := func(w float64, lines []string, style string, c [3]int) {
			d.font(false, style, size)
			d.color(c)
			for i, ln := range lines {
				f.SetXY(x+1, y+1+float64(i)*h)
				f.CellFormat(w-2, h, ln, "", 0, "L", false, 0, "")
			}
			x += w
		}
		cell(pdfColID, idLines, "B", pdfInk)
		cell(pdfColTitle, titleLines, "", pdfInk)
		cell(pdfColMode, modeLines, "", pdfInk)
		d.fill(pdfStatusColor(pr.Status))
		f.Rect(x+1, y+0.7, pdfColStatus-2, float64(len(statusLines))*h+0.6, "F")
		x++
		cell(pdfColStatus-2, statusLines, "B", [3]int{255, 255, 255})
		f.SetY(y + rowH)

		keys := make([]string, 0, len(pr.Evidence))
		for k := range pr.Evidence {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, l := range full {
			d.para(l, true, 7, pdfMuted, 4)
		}
		for _, k := range keys {
			d.para(k+": "+pr.Evidence[k], true, 7, pdfMuted, 4)
		}
		f.Ln(1)
		c := pdfRule
		f.SetDrawColor(c[0], c[1], c[2])
		f.SetLineWidth(0.2)
		f.Line(pdfMargin, f.GetY(), pdfMargin+pdfContentW, f.GetY())
		f.Ln(1)
	}
}

func (d *pdfDoc) artifact(a *Artifact) {
	d.kv("File", a.File, false)
	if a.Format == "aab" {
		d.kv("Format", "Android App Bundle (JAR signed; Play builds and signs the APKs)", false)
	}
	d.kv("Size", pdfSize(a.Size), false)
	d.kv("sha256", a.SHA256, true)
	d.kv("Package", a.Package, false)
	d.kv("Version", fmt.Sprintf("%s (versionCode %d)", pdfOrDash(a.VersionName), a.VersionCode), false)
	d.kv("minSdk", strconv.Itoa(a.MinSDK), false)
	d.kv("Signature schemes", strings.Join(a.Schemes, ", "), false)
	d.kvList("Signer digests", a.Signers, true)
	if a.Format == "aab" {
		mods := make([]string, len(a.Modules))
		for i, m := range a.Modules {
			mods[i] = fmt.Sprintf("%s (%s%s; dex %s; abis %s)", m.Name, m.Type, pdfPrefixed(", ", m.Delivery),
				pdfOrDash(strings.Join(m.Dex, ", ")), pdfOrDash(strings.Join(m.ABIs, ", ")))
		}
		d.kvList("Modules", mods, false)
		return
	}
	d.kv("16 KiB aligned .so", pdfYesNo(a.ZipAligned16K), false)
}

// pdfPrefixed is prefix+s, or "" when s is empty.
func pdfPrefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func (d *pdfDoc) hashes() {
	d.heading("Hashes")
	d.subheading("Input")
	d.artifact(&d.p.Input)
	d.subheading("Output")
	d.artifact(&d.p.Output)

	d.subheading("Statement subjects")
	if len(d.st.Subject) == 0 {
		d.kv("Subject", "none", false)
	}
	for _, s := range d.st.Subject {
		d.kv("Name", s.Name, false)
		algs := make([]string, 0, len(s.Digest))
		for a := range s.Digest {
			algs = append(algs, a)
		}
		sort.Strings(algs)
		for _, a := range algs {
			d.kv(a, s.Digest[a], true)
		}
	}

	d.subheading("Injected entries")
	if len(d.p.Injected) == 0 {
		d.para("No entries were added or replaced.", false, 9, pdfInk, 0)
		return
	}
	for _, in := range d.p.Injected {
		d.kv(pdfOrDash(in.Action), fmt.Sprintf("%s (%s)", in.Name, pdfSize(int64(in.Size))), false)
		d.kv("", "sha256 "+in.SHA256, true)
	}
}

func (d *pdfDoc) certificate() {
	d.heading("Client certificate (mTLS)")
	m := d.p.MTLS
	if m == nil {
		d.para("No client certificate was injected.", false, 9, pdfInk, 0)
		return
	}
	attested := m.PrivateKeyInPackage != nil && !*m.PrivateKeyInPackage
	if attested {
		d.para("No private key is in the package. Each device makes a non-exportable key in its hardware keystore, proves it with "+
			"Key Attestation, and the attestation service issues it a short-lived client certificate under the issuer CA below.",
			false, 9, pdfInk, 0)
	} else {
		d.para("The public part of the certificate sealed into the app. The private key is never in this report.",
			false, 8.5, pdfMuted, 0)
	}
	d.f.Ln(1)
	if m.Identity != "" {
		d.kv("Identity", m.Identity, false)
	}
	if attested {
		d.kv("Issuer CA", m.Subject, false)
	} else {
		d.kv("Subject", m.Subject, false)
	}
	d.kv("Issuer", m.Issuer, false)
	d.kv("Serial", m.Serial, true)
	d.kv("Valid from", pdfDate(m.NotBefore), false)
	d.kv("Valid until", pdfDate(m.NotAfter), false)
	d.kv("SHA-256 fingerprint", m.SHA256, true)
	d.kv("Public key", m.PublicKeyAlgorithm, false)
	d.kvList("Hosts", m.Hosts, false)
	if v := m.Vault; v != nil {
		chain := make([]string, len(v.Chain))
		for i, c := range v.Chain {
			chain[i] = c.Subject + " sha256 " + c.SHA256
		}
		key := "no private key"
		if v.HasPrivateKey {
			key = "private key (sealed)"
		}
		d.kv("Vault holds", key, false)
		d.kvList("Vault chain", chain, true)
	}
	if a := m.AttestedCertificate; a != nil {
		boot := "verified boot not required"
		if a.RequireVerifiedBoot {
			boot = "verified boot and locked bootloader required"
		}
		d.kv("Device certificate", fmt.Sprintf("valid %s; keystore %s or better; StrongBox %s; %s", a.Validity, a.MinSecurityLevel, a.StrongBox, boot), false)
	}
}

func (d *pdfDoc) attestation() {
	a := &d.p.Attestation
	d.heading("Attestation registration")
	d.kv("Endpoint", a.Endpoint, false)
	d.kv("Measurement sha256", a.MeasurementSHA256, true)
	d.kv("Package", a.Package, false)
	d.kv("versionCode", strconv.FormatInt(a.VersionCode, 10), false)
	d.kvList("Signer digests", a.SignerDigests, true)
	d.kv("Runtime digest", a.RuntimeDigest, true)
	d.kv("Manifest digest", a.ManifestDigest, true)
	names := make([]string, 0, len(a.DexDigests))
	for k := range a.DexDigests {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return pdfNaturalLess(names[i], names[j]) })
	dex := make([]string, len(names))
	for i, k := range names {
		dex[i] = k + " " + a.DexDigests[k]
	}
	d.kvList("Dex digests", dex, true)
	if k := a.KeyAttestation; k != nil {
		boot := "not required"
		if k.RequireVerifiedBoot {
			boot = "verified boot and locked bootloader required"
		}
		d.kv("Key attestation", fmt.Sprintf("%s; keystore %s or better; %s", k.Mode, k.MinSecurityLevel, boot), false)
	}
}

func (d *pdfDoc) verification() {
	v := &d.p.Verification
	d.heading("Verification of the output")
	if v.Verified {
		d.kvColor("Result", "verified", false, pdfGreen)
	} else {
		d.kvColor("Result", "NOT verified", false, pdfRed)
	}
	if d.p.Output.Format == "aab" {
		d.kv("Checked", "JAR signature, digests of written entries, copies byte-identical to the input", false)
	} else {
		d.kv("minSdk", strconv.Itoa(v.MinSDK), false)
	}
	d.kv("Schemes", strings.Join(v.Schemes, ", "), false)
	for i, e := range v.Errors {
		label := ""
		if i == 0 {
			label = "Errors"
		}
		d.kvColor(label, e, false, pdfRed)
	}
}

func (d *pdfDoc) build() {
	b := &d.p.Build
	d.heading("Build")
	d.kv("Tool", b.Tool, false)
	d.kv("Version", b.Version, false)
	d.kv("Commit", b.Commit, true)
	d.kv("Time", pdfDate(b.Time), false)
	d.kvColor("Demo key", pdfYesNo(b.DemoKey), false, map[bool][3]int{true: pdfRed, false: pdfInk}[b.DemoKey])
	if b.Reproduce != "" {
		d.kv("Reproducible", b.Reproduce, true)
	}
	keys := make([]string, 0, len(b.CI))
	for k := range b.CI {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		d.kv("CI", "not run in CI", false)
	}
	for _, k := range keys {
		d.kv("CI "+k, b.CI[k], false)
	}
}

func (d *pdfDoc) limits() {
	d.heading("What these protections do not cover")
	if len(d.p.Limits) == 0 {
		d.para("No limits are stated.", false, 9, pdfInk, 0)
		return
	}
	for _, l := range d.p.Limits {
		d.ensure(pdfLineH(9))
		y := d.f.GetY()
		d.font(false, "", 9)
		d.color(pdfInk)
		d.f.SetX(pdfMargin)
		d.f.CellFormat(4, pdfLineH(9), d.tr("\u2022"), "", 0, "L", false, 0, "")
		d.f.SetY(y)
		d.para(l, false, 9, pdfInk, 4)
		d.f.Ln(0.8)
	}
}

// --- formatting ---

// pdfNaturalLess orders strings with runs of digits compared as numbers, so
// classes2.dex comes before classes10.dex.
func pdfNaturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := pdfDigits(a), pdfDigits(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

// pdfDigits is the length of the run of ASCII digits at the start of s.
func pdfDigits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

func pdfDate(t time.Time) string {
	if t.IsZero() {
		return "not recorded"
	}
	return t.UTC().Format(pdfDateLayout)
}

func pdfSize(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	b.WriteString(" bytes")
	switch {
	case n >= 1<<20:
		fmt.Fprintf(&b, " (%.1f MiB)", float64(n)/(1<<20))
	case n >= 1<<10:
		fmt.Fprintf(&b, " (%.1f KiB)", float64(n)/(1<<10))
	}
	return b.String()
}

func pdfYesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func pdfOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
