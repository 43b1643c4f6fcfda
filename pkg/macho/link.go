package macho

import "debug/macho"

// FORMAT: <mach-o/loader.h>.
const (
	lcLoadDylib = 0xc        // dylib_command {cmd, cmdsize, dylib{name.offset=24, timestamp, current_version, compatibility_version}}, then the name
	lcRpath     = 0x8000001c // rpath_command {cmd, cmdsize, path.offset=12}, then the path
	dylibV1     = 0x00010000 // version 1.0.0 packed as xxxx.yy.zz
	dylibStamp  = 2          // the timestamp ld64 writes
)

// Link is a dynamic library to add to every slice of an executable, as
// insert_dylib and optool add one: an LC_LOAD_DYLIB for Dylib (its install
// name, versions 1.0.0, timestamp 2 as ld64 writes) and an LC_RPATH for
// Rpath when no LC_RPATH already has that path ("" adds none).
type Link struct {
	Dylib string // install name, e.g. @rpath/TrustFuse.framework/TrustFuse
	Rpath string // e.g. @executable_path/Frameworks
}

// AddLink plans l's load commands for every slice: File.Write then emits
// them after the existing load commands, in the header padding (between the
// end of the load commands and the first section's data), and the signature
// seals them. Commands already present (the same install name in an
// LC_LOAD_DYLIB, the same path in an LC_RPATH) are not added again, so
// AddLink on a file that has them is a no-op. It fails, changing no slice,
// with a *FormatError wrapping ErrNoRoom when a slice's padding cannot hold
// the new commands and the code signature's.
func (f *File) AddLink(l Link) error {
	extra := make([][]byte, len(f.Slices))
	counts := make([]uint32, len(f.Slices))
	for i, s := range f.Slices {
		var cmds []byte
		if l.Dylib != "" && !s.hasLoad(func(lc macho.Load) bool { d, ok := lc.(*macho.Dylib); return ok && d.Name == l.Dylib }) {
			cmds = append(cmds, s.dylibCommand(l.Dylib)...)
			counts[i]++
		}
		if l.Rpath != "" && !s.hasLoad(func(lc macho.Load) bool { r, ok := lc.(*macho.Rpath); return ok && r.Path == l.Rpath }) {
			cmds = append(cmds, s.rpathCommand(l.Rpath)...)
			counts[i]++
		}
		need := s.cmdsEnd + int64(len(s.extra)) + int64(len(cmds))
		if s.codeSig == nil {
			need += codeSigCmdSize
		}
		if need > s.firstData {
			return formatErr(s.Offset+s.cmdsEnd, ErrNoRoom, "%s slice: adding %s needs %d bytes of header padding, %d left before the first section data at %d: link the app with -headerpad_max_install_names",
				s.Arch(), l.Dylib, need-s.cmdsEnd, s.firstData-s.cmdsEnd, s.firstData)
		}
		extra[i] = cmds
	}
	for i, s := range f.Slices {
		s.extra = append(s.extra, extra[i]...)
		s.extraCount += counts[i]
	}
	return nil
}

// hasLoad reports whether a load command of s satisfies match.
func (s *Slice) hasLoad(match func(macho.Load) bool) bool {
	for _, l := range s.Loads {
		if match(l) {
			return true
		}
	}
	return false
}

// cmdAlign is the size multiple of a load command: 8 in a 64-bit slice,
// 4 in a 32-bit one.
func (s *Slice) cmdAlign() int {
	if s.Is64 {
		return 8
	}
	return 4
}

// dylibCommand encodes an LC_LOAD_DYLIB of name, NUL-padded to cmdAlign.
func (s *Slice) dylibCommand(name string) []byte {
	b := make([]byte, align(int64(24+len(name)+1), int64(s.cmdAlign())))
	bo := s.ByteOrder
	bo.PutUint32(b, lcLoadDylib)
	bo.PutUint32(b[4:], uint32(len(b)))
	bo.PutUint32(b[8:], 24)
	bo.PutUint32(b[12:], dylibStamp)
	bo.PutUint32(b[16:], dylibV1)
	bo.PutUint32(b[20:], dylibV1)
	copy(b[24:], name)
	return b
}

// rpathCommand encodes an LC_RPATH of path, NUL-padded to cmdAlign.
func (s *Slice) rpathCommand(path string) []byte {
	b := make([]byte, align(int64(12+len(path)+1), int64(s.cmdAlign())))
	bo := s.ByteOrder
	bo.PutUint32(b, lcRpath)
	bo.PutUint32(b[4:], uint32(len(b)))
	bo.PutUint32(b[8:], 12)
	copy(b[12:], path)
	return b
}
