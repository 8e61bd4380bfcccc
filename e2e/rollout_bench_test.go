package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
)

// BenchmarkPushToReplicas measures a scale change reaching a cloud and 10
// edge sites that run their workloads (a controller-manager, a scheduler
// and kwok with a Node on each). Each iteration pushes a commit raising
// spec.scale, which changes the replicas of every cluster's Deployment, and
// times from the start of "git push"
//
//   - replicas: until every cluster's Deployment has the new spec.replicas,
//     as watches on every API server see it;
//   - rolled-out: until the rollout is complete: the status endpoint
//     (polled every 10 ms) shows every target Ready at the commit, and every
//     Deployment has observed its new generation and has that many replicas
//     available.
//
// The push webhook is the only trigger: the daemon fetches hourly and
// corrects drift hourly.
func BenchmarkPushToReplicas(b *testing.B) {
	e := newBenchFleet(b, benchRepo{sites: 10, workload: true}, fleetOptions{
		StartTimeout: 10 * time.Minute,
		DaemonArgs:   []string{"--interval", "1h", "--drift-interval", "1h", "--log-level", "info"},
	})
	e.startDaemon()
	e.waitConverged(e.head(), 5*time.Minute)
	clients := map[string]kubernetes.Interface{}
	for _, c := range e.fleet.Clusters() {
		cs, err := kubernetes.NewForConfig(c.RESTConfig())
		if err != nil {
			b.Fatal(err)
		}
		clients[c.Name] = cs
	}
	before := e.renderedDeployments("gateway")

	var toReplicas, toRolledOut []time.Duration
	for scale := 2; b.Loop(); scale++ {
		b.StopTimer()
		e.edit("tandem.yaml", func(s string) string {
			return strings.Replace(s, fmt.Sprintf("scale: %d\n", scale-1), fmt.Sprintf("scale: %d\n", scale), 1)
		})
		want := e.renderedDeployments("gateway")
		for cluster, d := range want {
			if d.replicas == before[cluster].replicas {
				b.Fatalf("scale %d leaves the replicas on %s at %d", scale, cluster, d.replicas)
			}
		}
		before = want
		e.gitRun("-C", e.clone, "commit", "--quiet", "--all", "-m", fmt.Sprintf("Scale to %d", scale))
		commit := e.head()
		w := watchDeployments(b, clients, want)
		b.StartTimer()

		began := time.Now()
		e.gitRun("-C", e.clone, "push", "--quiet", "origin", "main")
		replicasAt, rolledOutAt := e.waitRolledOut(w, commit, 3*time.Minute)
		toReplicas = append(toReplicas, replicasAt.Sub(began))
		toRolledOut = append(toRolledOut, rolledOutAt.Sub(began))

		b.StopTimer()
		w.stop()
		b.StartTimer()
	}
	b.ReportMetric(percentileMillis(toReplicas, 50), "replicas-p50-ms")
	b.ReportMetric(percentileMillis(toReplicas, 90), "replicas-p90-ms")
	b.ReportMetric(percentileMillis(toRolledOut, 50), "rolled-out-p50-ms")
	b.ReportMetric(percentileMillis(toRolledOut, 90), "rolled-out-p90-ms")
	b.ReportMetric(float64(len(toRolledOut)), "iterations")
}

// renderedDeployment is where the render puts a Deployment on one cluster,
// and how many replicas it gives it.
type renderedDeployment struct {
	namespace, name string
	replicas        int64
}

// renderedDeployments renders the clone and returns, per cluster, the
// Deployment called name.
func (e *fleetEnv) renderedDeployments(name string) map[string]renderedDeployment {
	e.t.Helper()
	out := map[string]renderedDeployment{}
	for _, t := range e.expected().Targets {
		for _, o := range t.Objects {
			if o.GetKind() != "Deployment" || o.GetName() != name {
				continue
			}
			replicas, found, err := unstructured.NestedInt64(o.Object, "spec", "replicas")
			if !found || err != nil {
				e.t.Fatalf("cluster %s: Deployment %s/%s renders without spec.replicas (%v)", t.Cluster, o.GetNamespace(), name, err)
			}
			out[t.Cluster] = renderedDeployment{namespace: o.GetNamespace(), name: name, replicas: replicas}
		}
	}
	if len(out) == 0 {
		e.t.Fatalf("no cluster renders a Deployment %s", name)
	}
	return out
}

// deploymentWatch follows one Deployment per cluster, from a list of each
// taken when the watch began, and says what it expects of each.
type deploymentWatch struct {
	want    map[string]renderedDeployment
	initial map[string]*appsv1.Deployment
	updates chan deploymentUpdate
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// deploymentUpdate is a Deployment as a watch delivered it, and when; or
// why the watch ended.
type deploymentUpdate struct {
	cluster string
	d       *appsv1.Deployment
	at      time.Time
	err     error
}

// watchDeployments lists every cluster's Deployment of want, then watches
// it from there, until stop.
func watchDeployments(b testing.TB, clients map[string]kubernetes.Interface, want map[string]renderedDeployment) *deploymentWatch {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &deploymentWatch{want: want, initial: map[string]*appsv1.Deployment{},
		updates: make(chan deploymentUpdate, 4*len(want)), cancel: cancel}
	for cluster, d := range want {
		deployments := clients[cluster].AppsV1().Deployments(d.namespace)
		selector := metav1.ListOptions{FieldSelector: "metadata.name=" + d.name}
		list, err := deployments.List(ctx, selector)
		if err != nil || len(list.Items) != 1 {
			w.stop()
			b.Fatalf("cluster %s: list Deployment %s/%s: %d found, %v", cluster, d.namespace, d.name, len(list.Items), err)
		}
		w.initial[cluster] = &list.Items[0]
		selector.ResourceVersion = list.ResourceVersion
		watcher, err := deployments.Watch(ctx, selector)
		if err != nil {
			w.stop()
			b.Fatalf("cluster %s: watch Deployment %s/%s: %v", cluster, d.namespace, d.name, err)
		}
		w.wg.Go(func() {
			defer watcher.Stop()
			send := func(u deploymentUpdate) bool {
				select {
				case w.updates <- u:
					return true
				case <-ctx.Done():
					return false
				}
			}
			for ev := range watcher.ResultChan() {
				d, ok := ev.Object.(*appsv1.Deployment)
				if !ok {
					send(deploymentUpdate{cluster: cluster, err: fmt.Errorf("watch delivered %s %T: %v", ev.Type, ev.Object, ev.Object)})
					return
				}
				if !send(deploymentUpdate{cluster: cluster, d: d, at: time.Now()}) {
					return
				}
			}
			if ctx.Err() == nil {
				send(deploymentUpdate{cluster: cluster, err: fmt.Errorf("watch ended")})
			}
		})
	}
	return w
}

// stop ends the watches and waits for their goroutines.
func (w *deploymentWatch) stop() {
	w.cancel()
	w.wg.Wait()
}

// wantsReplicas reports whether d has the replicas the render gives it.
func (w *deploymentWatch) wantsReplicas(cluster string, d *appsv1.Deployment) bool {
	return d.Spec.Replicas != nil && int64(*d.Spec.Replicas) == w.want[cluster].replicas
}

// rolledOut reports whether d runs the replicas the render gives it: it has
// observed its latest spec, and that many replicas are available.
func (w *deploymentWatch) rolledOut(cluster string, d *appsv1.Deployment) bool {
	return w.wantsReplicas(cluster, d) && d.Status.ObservedGeneration == d.Generation &&
		int64(d.Status.AvailableReplicas) == w.want[cluster].replicas
}

// waitRolledOut follows w and the status (every 10 ms) until the rollout
// of commit is complete, and returns when every Deployment first had its
// new replicas, and when the rollout was complete: the later of the status
// showing every target Ready at commit and the last Deployment rolling out.
func (e *fleetEnv) waitRolledOut(w *deploymentWatch, commit string, timeout time.Duration) (replicasAt, rolledOutAt time.Time) {
	e.t.Helper()
	latest := map[string]*appsv1.Deployment{}
	for cluster, d := range w.initial {
		latest[cluster] = d
	}
	every := func(ok func(string, *appsv1.Deployment) bool) bool {
		for cluster, d := range latest {
			if !ok(cluster, d) {
				return false
			}
		}
		return true
	}
	deadline := time.After(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var statusAt, deploymentsAt time.Time
	statusWhy := "not read yet"
	for replicasAt.IsZero() || statusAt.IsZero() || deploymentsAt.IsZero() {
		select {
		case u := <-w.updates:
			if u.err != nil {
				e.t.Fatalf("cluster %s: %v", u.cluster, u.err)
			}
			latest[u.cluster] = u.d
			if replicasAt.IsZero() && every(w.wantsReplicas) {
				replicasAt = u.at
			}
			switch rolled := every(w.rolledOut); {
			case !rolled:
				deploymentsAt = time.Time{}
			case deploymentsAt.IsZero():
				deploymentsAt = u.at
			}
		case now := <-tick.C:
			if !statusAt.IsZero() {
				continue
			}
			if _, err := e.convergedAt(commit); err != nil {
				statusWhy = err.Error()
				continue
			}
			statusAt = now
		case <-deadline:
			var states []string
			for cluster, d := range latest {
				states = append(states, fmt.Sprintf("%s: replicas %d, generation %d observed %d, %d available, want %d",
					cluster, ptrValue(d.Spec.Replicas), d.Generation, d.Status.ObservedGeneration, d.Status.AvailableReplicas, w.want[cluster].replicas))
			}
			slices.Sort(states)
			e.t.Fatalf("waited %s for the rollout of %s; status: %s; Deployments:\n%s", timeout, commit[:8], statusWhy, strings.Join(states, "\n"))
		}
	}
	return replicasAt, later(statusAt, deploymentsAt)
}

func ptrValue(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
