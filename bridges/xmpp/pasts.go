package xmpp

import "slices"

// pasts is, per resource of an occupant, the past its join read (see
// horizon). Nearly every occupant has one resource, so it is a short
// slice, not a map: the occupant records are kept small (one per
// occupant puppet, see bench/xmpp).
type pasts []resHorizon

// resHorizon is the horizon of one resource's join.
type resHorizon struct {
	res string
	hz  *horizon
}

// of returns res's horizon, nil when it has none.
func (p pasts) of(res string) *horizon {
	for _, r := range p {
		if r.res == res {
			return r.hz
		}
	}
	return nil
}

// with returns p with res's horizon set to hz; a nil hz removes it.
func (p pasts) with(res string, hz *horizon) pasts {
	i := slices.IndexFunc(p, func(r resHorizon) bool { return r.res == res })
	switch {
	case hz == nil && i >= 0:
		p = slices.Delete(p, i, i+1)
	case hz == nil:
	case i >= 0:
		p[i].hz = hz
	default:
		p = append(p, resHorizon{res: res, hz: hz})
	}
	if len(p) == 0 {
		return nil
	}
	return p
}
