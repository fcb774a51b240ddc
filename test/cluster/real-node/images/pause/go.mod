module loc.test/pause

go 1.26
