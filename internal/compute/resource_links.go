package compute

import (
	"net/http"
	"net/url"
	"strings"
)

// Nova's ViewBuilder links (nova/api/openstack/common.py): a "self" link under the
// versioned root and a "bookmark" link under the unversioned one, and a "next" link on
// full pages of a collection.

// resourceLinks returns the self and bookmark links of a resource in a collection.
func (s *Service) resourceLinks(r *http.Request, collection, id string) []map[string]string {
	root := s.prefixURL(r)
	esc := url.PathEscape(id)
	return []map[string]string{
		{"rel": "self", "href": root + "/v2.1/" + collection + "/" + esc},
		{"rel": "bookmark", "href": root + "/" + collection + "/" + esc},
	}
}

// collectionLinks returns Nova's "<collection>_links" for a page of n items that ended
// with lastID: a next link when the page is as long as the effective limit.
func (s *Service) collectionLinks(r *http.Request, collection string, limit, n int, lastID string) []map[string]string {
	if limit <= 0 || n != limit || lastID == "" {
		return nil
	}
	q := r.URL.Query()
	q.Set("marker", lastID)
	return []map[string]string{{"rel": "next",
		"href": s.prefixURL(r) + "/v2.1/" + strings.TrimPrefix(collection, "/") + "?" + q.Encode()}}
}
