package apk

import (
	"encoding/binary"
	"io"

	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// elfHeadLimit bounds how much of a library is read to find its program
// headers, which linkers place right after the ELF header.
const elfHeadLimit = 64 << 10

// elfLoadAlign returns the smallest p_align among the PT_LOAD segments of the
// ELF file in e, or 0 if it cannot be read.
//
// FORMAT: ELF header (e_ident[EI_CLASS] 1=32-bit, 2=64-bit; EI_DATA 1=LE, 2=BE);
// e_phoff at 0x1C (32) / 0x20 (64), e_phentsize and e_phnum at 0x2A/0x2C (32)
// or 0x36/0x38 (64); program header p_type at 0, p_align at 0x1C (32) / 0x30 (64).
func elfLoadAlign(e *zipx.Entry) uint64 {
	rc := e.Open()
	defer rc.Close()
	head, _ := io.ReadAll(io.LimitReader(rc, elfHeadLimit))
	if len(head) < 0x40 || string(head[:4]) != "\x7fELF" {
		return 0
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if head[5] == 2 {
		bo = binary.BigEndian
	}
	is64 := head[4] == 2
	var phoff uint64
	var phentsize, phnum int
	if is64 {
		phoff = bo.Uint64(head[0x20:])
		phentsize, phnum = int(bo.Uint16(head[0x36:])), int(bo.Uint16(head[0x38:]))
	} else {
		phoff = uint64(bo.Uint32(head[0x1c:]))
		phentsize, phnum = int(bo.Uint16(head[0x2a:])), int(bo.Uint16(head[0x2c:]))
	}
	var minAlign uint64
	for i := range phnum {
		off := phoff + uint64(i*phentsize)
		if phentsize < 0x20 || off+uint64(phentsize) > uint64(len(head)) {
			return 0
		}
		ph := head[off:]
		const ptLoad = 1
		if bo.Uint32(ph) != ptLoad {
			continue
		}
		var align uint64
		if is64 {
			if phentsize < 0x38 {
				return 0
			}
			align = bo.Uint64(ph[0x30:])
		} else {
			align = uint64(bo.Uint32(ph[0x1c:]))
		}
		if minAlign == 0 || align < minAlign {
			minAlign = align
		}
	}
	return minAlign
}
