// One import for e2e tests; each module stays small and about one thing.
export * from "./kube.js";
export * from "./kwok-forwards.js";
export * from "./observe.js";
export * from "./pod-port-forward.js";
export * from "./restart.js";
export * from "./sshd.js";
export * from "./tcp.js";
export * from "./wait.js";
export * from "./workloads.js";
