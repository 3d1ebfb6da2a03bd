package ircfmt

import (
	"fmt"
	"strconv"
	"strings"
)

// palette holds the RGB values of mIRC colours 0–98: the 16 standard colours
// followed by the 83 extended ones (https://modern.ircdocs.horse/formatting).
// Colour 99 means "default" and has no RGB value.
var palette = [99]uint32{
	0xffffff, 0x000000, 0x00007f, 0x009300, 0xff0000, 0x7f0000, 0x9c009c, 0xfc7f00,
	0xffff00, 0x00fc00, 0x009393, 0x00ffff, 0x0000fc, 0xff00ff, 0x7f7f7f, 0xd2d2d2,
	0x470000, 0x472100, 0x474700, 0x324700, 0x004700, 0x00472c, 0x004747, 0x002747,
	0x000047, 0x2e0047, 0x470047, 0x47002a, 0x740000, 0x743a00, 0x747400, 0x517400,
	0x007400, 0x007449, 0x007474, 0x004074, 0x000074, 0x4b0074, 0x740074, 0x740045,
	0xb50000, 0xb56300, 0xb5b500, 0x7db500, 0x00b500, 0x00b571, 0x00b5b5, 0x0063b5,
	0x0000b5, 0x7500b5, 0xb500b5, 0xb5006b, 0xff0000, 0xff8c00, 0xffff00, 0xb2ff00,
	0x00ff00, 0x00ffa0, 0x00ffff, 0x008cff, 0x0000ff, 0xa500ff, 0xff00ff, 0xff0098,
	0xff5959, 0xffb459, 0xffff71, 0xcfff60, 0x6fff6f, 0x65ffc9, 0x6dffff, 0x59b4ff,
	0x5959ff, 0xc459ff, 0xff66ff, 0xff59bc, 0xff9c9c, 0xffd39c, 0xffff9c, 0xe2ff9c,
	0x9cff9c, 0x9cffdb, 0x9cffff, 0x9cd3ff, 0x9c9cff, 0xdc9cff, 0xff9cff, 0xff94d3,
	0x000000, 0x131313, 0x282828, 0x363636, 0x4d4d4d, 0x656565, 0x818181, 0x9f9f9f,
	0xbcbcbc, 0xe2e2e2, 0xffffff,
}

// colorKind tells how a color is expressed on IRC.
type colorKind uint8

const (
	colorNone    colorKind = iota // terminal default
	colorPalette                  // \x03NN, 0–98
	colorHex                      // \x04RRGGBB
)

// color is one foreground or background colour of an IRC text run.
type color struct {
	kind colorKind
	v    uint32 // palette index or 0xRRGGBB
}

func paletteColor(i int) color {
	if i < 0 || i >= len(palette) {
		return color{}
	}
	return color{kind: colorPalette, v: uint32(i)}
}

// rgb returns the colour as 0xRRGGBB; ok is false for the default colour.
func (c color) rgb() (v uint32, ok bool) {
	switch c.kind {
	case colorPalette:
		return palette[c.v], true
	case colorHex:
		return c.v, true
	}
	return 0, false
}

// css returns "#rrggbb", or "" for the default colour.
func (c color) css() string {
	v, ok := c.rgb()
	if !ok {
		return ""
	}
	return fmt.Sprintf("#%06x", v)
}

// fromRGB maps an RGB value to the palette entry with exactly that value,
// else to a hex colour when hex is true, else to the nearest of the 16
// standard colours.
func fromRGB(v uint32, hex bool) color {
	for i, p := range palette {
		if p == v {
			return paletteColor(i)
		}
	}
	if hex {
		return color{kind: colorHex, v: v}
	}
	best, bestDist := 0, -1
	for i := range 16 {
		if d := rgbDistance(v, palette[i]); bestDist < 0 || d < bestDist {
			best, bestDist = i, d
		}
	}
	return paletteColor(best)
}

// nearestPalette maps any colour to a palette index (used when a hex colour
// must be expressed with \x03).
func (c color) nearestPalette() color {
	if c.kind != colorHex {
		return c
	}
	return fromRGB(c.v, false)
}

// rgbDistance is a weighted squared distance that tracks perceived
// difference better than plain Euclidean RGB ("redmean" approximation).
func rgbDistance(a, b uint32) int {
	ar, ag, ab := int(a>>16&0xff), int(a>>8&0xff), int(a&0xff)
	br, bg, bb := int(b>>16&0xff), int(b>>8&0xff), int(b&0xff)
	rm := (ar + br) / 2
	dr, dg, db := ar-br, ag-bg, ab-bb
	return ((512+rm)*dr*dr)>>8 + 4*dg*dg + ((767-rm)*db*db)>>8
}

// cssNames are the colour names accepted in a font color attribute besides
// hex values.
var cssNames = map[string]uint32{
	"white": 0xffffff, "black": 0x000000, "navy": 0x000080, "blue": 0x0000ff,
	"green": 0x008000, "lime": 0x00ff00, "red": 0xff0000, "maroon": 0x800000,
	"purple": 0x800080, "magenta": 0xff00ff, "fuchsia": 0xff00ff,
	"orange": 0xffa500, "yellow": 0xffff00, "teal": 0x008080, "cyan": 0x00ffff,
	"aqua": 0x00ffff, "gray": 0x808080, "grey": 0x808080, "silver": 0xc0c0c0,
	"pink": 0xffc0cb, "brown": 0xa52a2a,
}

// parseCSSColor parses "#rrggbb", "#rgb" or a basic colour name.
func parseCSSColor(s string) (uint32, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if v, ok := cssNames[s]; ok {
		return v, true
	}
	if !strings.HasPrefix(s, "#") {
		return 0, false
	}
	h := s[1:]
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if len(h) != 6 {
		return 0, false
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, false
	}
	return uint32(v), true
}
