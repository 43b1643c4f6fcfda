package zipx

import (
	"bytes"
	"io"
	"runtime"

	"github.com/klauspost/compress/flate"
)

// deflateChunk is the unit Create compresses on its own core: a large entry
// (an app's executable) is cut into chunks of this size, each compressed by
// one goroutine with the previous chunk's last 32 KiB as its dictionary,
// and the results are written in order. Each chunk but the last ends with a
// sync flush (an empty stored block: the stream stays byte-aligned and
// continues), the last with the final block, so the chunks concatenate
// into one DEFLATE stream — what pigz does. The output depends only on the
// content and this size, not on the number of cores: archives stay
// reproducible. The cost is one sync marker and fresh Huffman tables per
// chunk, a fraction of a percent of the size at 256 KiB.
const deflateChunk = 256 << 10

// dictSize is DEFLATE's window: how far back a match may reach.
const dictSize = 32 << 10

// parallelDeflater compresses what is written to it in chunks on all
// cores and writes the compressed stream, in order, to out.
type parallelDeflater struct {
	out   io.Writer
	cur   *deflateJob   // the chunk being filled
	dict  []byte        // the last dictSize bytes of the previous chunk
	queue []*deflateJob // submitted, oldest first
	free  []*deflateJob // finished jobs whose buffers and compressor can be reused
	limit int           // jobs in flight
}

// deflateJob is one chunk and its compressed form.
type deflateJob struct {
	in    []byte
	dict  []byte
	out   bytes.Buffer
	fw    *flate.Writer
	final bool
	done  chan error
}

func newParallelDeflater(out io.Writer) *parallelDeflater {
	return &parallelDeflater{out: out, limit: runtime.GOMAXPROCS(0) + 1}
}

func (d *parallelDeflater) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if d.cur == nil {
			d.cur = d.job()
		}
		k := min(len(p), deflateChunk-len(d.cur.in))
		d.cur.in = append(d.cur.in, p[:k]...)
		p = p[k:]
		if len(d.cur.in) == deflateChunk {
			if err := d.submit(false); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// Close compresses the last chunk (possibly empty) as the final block and
// writes everything still in flight.
func (d *parallelDeflater) Close() error {
	if d.cur == nil {
		d.cur = d.job()
	}
	if err := d.submit(true); err != nil {
		return err
	}
	for len(d.queue) > 0 {
		if err := d.writeOldest(); err != nil {
			return err
		}
	}
	return nil
}

// job returns an empty job, reusing a finished one when there is one.
func (d *parallelDeflater) job() *deflateJob {
	if n := len(d.free); n > 0 {
		j := d.free[n-1]
		d.free = d.free[:n-1]
		j.in, j.final = j.in[:0], false
		j.out.Reset()
		return j
	}
	return &deflateJob{in: make([]byte, 0, deflateChunk), dict: make([]byte, 0, dictSize), done: make(chan error, 1)}
}

// submit starts compressing the current chunk, first writing out the
// oldest job if as many as limit are in flight.
func (d *parallelDeflater) submit(final bool) error {
	j := d.cur
	d.cur = nil
	j.final = final
	j.dict = append(j.dict[:0], d.dict...)
	d.dict = append(d.dict[:0], j.in[max(0, len(j.in)-dictSize):]...)
	for len(d.queue) >= d.limit {
		if err := d.writeOldest(); err != nil {
			return err
		}
	}
	d.queue = append(d.queue, j)
	go func() { j.done <- j.compress() }()
	return nil
}

// compress deflates the chunk into j.out.
func (j *deflateJob) compress() error {
	if j.fw == nil {
		fw, err := flate.NewWriter(&j.out, createLevel)
		if err != nil {
			return err
		}
		j.fw = fw
	}
	j.fw.ResetDict(&j.out, j.dict)
	if _, err := j.fw.Write(j.in); err != nil {
		return err
	}
	if j.final {
		return j.fw.Close()
	}
	return j.fw.Flush()
}

// writeOldest waits for the oldest job and writes its output.
func (d *parallelDeflater) writeOldest() error {
	j := d.queue[0]
	d.queue = d.queue[1:]
	if err := <-j.done; err != nil {
		return err
	}
	if _, err := d.out.Write(j.out.Bytes()); err != nil {
		return err
	}
	d.free = append(d.free, j)
	return nil
}
