module loc.test/app

go 1.26
