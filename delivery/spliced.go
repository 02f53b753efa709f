package delivery

import (
	"slices"
	"strings"
	"sync"
)

// Spliced is a body in pieces, for sending the same text to many
// recipients: Fixed pieces, the same slice (unchanged) for every message that
// shares them, and this message's Values between them. The body is Fixed[0]
// + Values[0] + Fixed[1] + ... + Fixed[len(Fixed)-1]. A Sender encodes the
// Fixed pieces of a slice once, and for each message only the Values.
type Spliced struct {
	Fixed  []string
	Values []string // one fewer than Fixed
}

// String joins the pieces.
func (s *Spliced) String() string {
	var b strings.Builder
	for i, f := range s.Fixed {
		if i > 0 {
			b.WriteString(s.Values[i-1])
		}
		b.WriteString(f)
	}
	return b.String()
}

// valid reports whether s has one value fewer than fixed pieces.
func (s *Spliced) valid() bool { return len(s.Fixed) > 0 && len(s.Values) == len(s.Fixed)-1 }

// Quoted-printable is encoded line by line: nothing of one line's encoding
// depends on another's. So each piece of a Spliced body is encoded as if it
// started a line, and a piece that does not end its line ends with a soft
// line break ("=" CRLF, RFC 2045 section 6.7 rule 5), which readers remove.
// The decoded body is the joined pieces. The one exception is a CR that ends
// one piece before the LF that starts the next, which joined make one line
// break and encoded apart make two characters; such a body is joined and
// encoded whole.

// softBreak is a quoted-printable soft line break.
const softBreak = "=\r\n"

// appendPiece appends the encoding of one piece: its quoted-printable, and a
// soft line break when the piece does not end its line and more follows.
func appendPiece(b []byte, piece string, last bool) []byte {
	if piece == "" {
		return b
	}
	b = appendQP(b, piece)
	if !last && piece[len(piece)-1] != '\n' {
		b = append(b, softBreak...)
	}
	return b
}

// fixedKey names a Fixed slice by its first element and length. The pointer
// in the key keeps the slice alive while it is cached, so its address cannot
// be reused for other pieces and find their encoding wrong.
type fixedKey struct {
	first *string
	n     int
}

// fixedEncoding is the encoding of each piece of a Fixed slice, made once.
type fixedEncoding struct {
	once   sync.Once
	pieces [][]byte
	crEnd  bool // a piece ends in CR: encode the joined body instead
	size   int
}

// maxFixed bounds the Fixed slices a Sender keeps encoded; past it, they
// are all forgotten and encoded again as they come.
const maxFixed = 64

// fixedCache keeps the encodings of the Fixed slices a Sender sends.
type fixedCache struct {
	mu sync.Mutex
	m  map[fixedKey]*fixedEncoding
}

// encoding returns the encoding of fixed, made now or before.
func (c *fixedCache) encoding(fixed []string) *fixedEncoding {
	key := fixedKey{&fixed[0], len(fixed)}
	c.mu.Lock()
	e, ok := c.m[key]
	if !ok {
		if c.m == nil || len(c.m) >= maxFixed {
			c.m = map[fixedKey]*fixedEncoding{}
		}
		e = &fixedEncoding{}
		c.m[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() {
		e.pieces = make([][]byte, len(fixed))
		for i, f := range fixed {
			e.pieces[i] = appendPiece(nil, f, i == len(fixed)-1)
			e.crEnd = e.crEnd || strings.HasSuffix(f, "\r")
			e.size += len(e.pieces[i])
		}
	})
	return e
}

// appendSpliced appends body s, encoded as quoted-printable, using cache
// for its Fixed pieces (nil: encode them now).
func appendSpliced(b []byte, s *Spliced, cache *fixedCache) []byte {
	if cache == nil {
		cache = &fixedCache{}
	}
	e := cache.encoding(s.Fixed)
	if e.crEnd || slices.ContainsFunc(s.Values, func(v string) bool { return strings.IndexByte(v, '\r') >= 0 }) {
		return appendQP(b, s.String())
	}
	for i, piece := range e.pieces {
		if i > 0 {
			b = appendPiece(b, s.Values[i-1], false)
		}
		b = append(b, piece...)
	}
	return b
}
