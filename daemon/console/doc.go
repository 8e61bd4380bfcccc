// Package console is tandem's operations console: web pages, served by
// "tandem serve" under /console/, where someone who will never edit YAML
// sees the fleet and changes a solution's scale factor.
//
// Git stays the single source of truth. The console reads the daemon's
// status and the branch head the daemon follows; a change of scale is
// previewed first, every site's replicas now and after, computed by the
// renderer's one linked-scaling function, and then becomes a one-line
// commit, authored by the signed-in user and pushed through
// sources/gitwrite. A revert is a git revert, previewed the same way. The
// daemon then rolls the new revision out like any other.
//
// Pages are rendered on the server with html/template and work without
// JavaScript; a little embedded JavaScript refreshes the live parts. Every
// request is signed in (a users file of bcrypt hashes, or a user name an
// authenticating proxy sets), every write needs the operator role and the
// session's CSRF token, and every commit is logged as an audit line.
package console
