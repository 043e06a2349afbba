// Command etcd is the etcd server the API server stores its objects in (same version k8s.io/kubernetes uses).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
