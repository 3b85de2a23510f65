package io.nemu.shim.sandbox;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.Any;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.nemu.proto.containerd.cgroups.v1.CPUStat;
import io.nemu.proto.containerd.cgroups.v1.CPUUsage;
import io.nemu.proto.containerd.cgroups.v1.MemoryEntry;
import io.nemu.proto.containerd.cgroups.v1.MemoryStat;
import io.nemu.proto.containerd.cgroups.v1.Metrics;
import io.nemu.proto.containerd.cgroups.v1.PidsStat;
import io.nemu.proto.containerd.events.TaskOOM;
import io.nemu.proto.containerd.types.Mount;
import io.nemu.proto.kata.AgentServiceGrpc;
import io.nemu.proto.kata.CgroupStats;
import io.nemu.proto.kata.CheckRequest;
import io.nemu.proto.kata.CreateContainerRequest;
import io.nemu.proto.kata.CreateSandboxRequest;
import io.nemu.proto.kata.DestroySandboxRequest;
import io.nemu.proto.kata.ExecProcessRequest;
import io.nemu.proto.kata.GetOOMEventRequest;
import io.nemu.proto.kata.HealthCheckResponse;
import io.nemu.proto.kata.HealthGrpc;
import io.nemu.proto.kata.LinuxResources;
import io.nemu.proto.kata.PauseContainerRequest;
import io.nemu.proto.kata.RemoveContainerRequest;
import io.nemu.proto.kata.ResumeContainerRequest;
import io.nemu.proto.kata.SignalProcessRequest;
import io.nemu.proto.kata.Spec;
import io.nemu.proto.kata.StartContainerRequest;
import io.nemu.proto.kata.StatsContainerRequest;
import io.nemu.proto.kata.Storage;
import io.nemu.proto.kata.TtyWinResizeRequest;
import io.nemu.proto.kata.UpdateContainerRequest;
import io.nemu.proto.kata.WaitProcessRequest;
import io.nemu.shim.cli.RuntimeOptions;
import io.nemu.shim.config.ConfigException;
import io.nemu.shim.config.ConfigLoader;
import io.nemu.shim.config.RuntimeConfig;
import io.nemu.shim.mount.Mounts;
import io.nemu.shim.daemon.StateCleaner;
import io.nemu.shim.network.GuestNetwork;
import io.nemu.shim.network.PodNetwork;
import io.nemu.shim.oci.Bundle;
import io.nemu.shim.oci.JsonToProto;
import io.nemu.shim.task.EventSink;
import io.nemu.shim.task.Sandbox;
import io.nemu.shim.task.Stdio;
import io.nemu.shim.task.TaskException;
import io.nemu.ttrpc.TtrpcClient;
import io.nemu.vmm.AgentTransport;
import io.nemu.vmm.Vm;
import io.nemu.vmm.VmConfig;
import io.nemu.vmm.VmException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A sandbox VM and the agent in it: boots QEMU with virtiofsd sharing {@link SandboxPaths#shared()},
 * dials the agent, checks its health and creates the sandbox; containers' rootfs are bind-mounted into
 * the shared folder and created through the agent. Every guest-side call is the Kata agent API.
 */
public final class VmSandbox implements Sandbox {
    private static final Logger log = LoggerFactory.getLogger(VmSandbox.class);
    /** Where the guest mounts the shared folder (Kata's path). */
    public static final String GUEST_SHARED = "/run/kata-containers/shared/containers";
    private static final Duration CALL = Duration.ofSeconds(60);
    private static final Duration HEALTH_CHECK = Duration.ofSeconds(30);

    private final String sandboxId;
    private final SandboxPaths paths;
    private final RuntimeConfig config;
    private final EventSink events;
    private final Vm vm;
    private TtrpcClient client;
    private AgentServiceGrpc.AgentServiceBlockingStub agent;
    private final Map<String, ProcessIo> ios = new ConcurrentHashMap<>();
    private final Map<String, ExecProcessRequest> pendingExecs = new ConcurrentHashMap<>();
    private final Map<String, List<String>> containerMounts = new ConcurrentHashMap<>();
    private volatile boolean closed;
    /** The pod's NICs (tcfilter taps in its netns), or null without a pod network. */
    private PodNetwork network;
    private final String hostname;
    /** The pod's /dev/shm in the guest: a tmpfs of CRI's default size, world-writable as on the host. */
    private static final List<String> POD_SHM_OPTIONS = List.of("nosuid", "nodev", "noexec", "mode=1777",
            "size=67108864");

    public static Sandbox.Factory factory(SandboxPaths paths, String configPathFlag, String namespace, EventSink events) {
        return (sandboxId, bundle, options) -> {
            String fromOptions = RuntimeOptions.configPath(options);
            RuntimeConfig cfg;
            try {
                Path file = ConfigLoader.locate(fromOptions != null ? fromOptions : configPathFlag, System.getenv());
                cfg = new ConfigLoader(w -> log.warn("{}", w)).load(file);
            } catch (ConfigException e) {
                throw new TaskException(Status.Code.INVALID_ARGUMENT, e.getMessage(), e);
            }
            PodSizing size;
            try {
                size = PodSizing.of(cfg.hypervisor(), bundle.annotations());
            } catch (PodSizing.BadAnnotation e) {
                throw new TaskException(Status.Code.INVALID_ARGUMENT, "sandbox " + sandboxId + ": " + e.getMessage(), e);
            }
            return boot(sandboxId, paths, cfg, size, bundle.spec().path("hostname").asText(""), events,
                    PodNetwork.netnsOf(bundle.spec(), sandboxId).orElse(null));
        };
    }

    /** Compatibility for callers without an event sink. */
    public static Sandbox.Factory factory(SandboxPaths paths, String configPathFlag, String namespace) {
        return factory(paths, configPathFlag, namespace, (t, e) -> { });
    }

    private VmSandbox(String sandboxId, SandboxPaths paths, RuntimeConfig config, EventSink events, Vm vm,
                      String hostname) {
        this.hostname = hostname;
        this.sandboxId = sandboxId;
        this.paths = paths;
        this.config = config;
        this.events = events;
        this.vm = vm;
    }

    /** @param netns the pod's network namespace (its interfaces become the VM's NICs), or null for none */
    static VmSandbox boot(String sandboxId, SandboxPaths paths, RuntimeConfig cfg, PodSizing size, String hostname,
                          EventSink events, Path netns) {
        RuntimeConfig.Hypervisor h = cfg.hypervisor();
        VmSandbox sb = null;
        PodNetwork net = null;
        try {
            Files.createDirectories(paths.state());
            Files.createDirectories(paths.shared());
            VmConfig.Builder vc = VmConfig.builder().profile(h.machineType()).kernel(h.kernel()).initrd(h.initrd())
                    .kernelArgs(h.kernelParams()).vcpus(size.vcpus()).memoryMib(size.memoryMib())
                    .maxVcpus(size.maxVcpus()).memorySlots(h.memorySlots()).maxMemoryMib(size.maxMemoryMib())
                    .pciRootPorts(h.pcieRootPorts()).runDir(paths.vmRun()).accelerator(h.accelerator())
                    .qemuBinary(h.path()).virtiofsdBinary(h.virtioFsDaemon()).agentTransport(AgentTransport.VSOCK)
                    .freePageReporting(h.reclaimGuestFreedMemory()).startTimeout(Duration.ofSeconds(30));
            if (h.sharedFs() == RuntimeConfig.SharedFs.VIRTIO_FS) {
                SharedDir.prepare(paths.shared());
                vc.sharedDir(paths.shared()).sharedCache(h.virtioFsCache());
            }
            net = netns == null ? null : PodNetwork.attach(netns, paths.state(), vc).orElse(null);
            Vm vm = new Vm(vc.build(), new Vm.Observer() {
                @Override
                public void virtiofsdStarted(long pid) {
                    writePid(paths, "virtiofsd", pid);
                }

                @Override
                public void qemuStarted(long pid) {
                    writePid(paths, "qemu", pid);
                }
            });
            sb = new VmSandbox(sandboxId, paths, cfg, events, vm, hostname);
            sb.network = net;
            log.info("booting VM for sandbox {} ({} vCPUs, {} MiB: {}): {}", sandboxId, size.vcpus(), size.memoryMib(),
                    size.why(), vm.config());
            long t0 = System.nanoTime();
            vm.start();
            long started = System.nanoTime();
            log.info("QEMU pid {} up ({}) in {} ms; dialing the agent", vm.pid(), vm.accelerator(),
                    (started - t0) / 1_000_000);
            sb.connectAgent();
            log.info("sandbox {} ready: agent answered {} ms after QEMU started", sandboxId,
                    (System.nanoTime() - started) / 1_000_000);
            return sb;
        } catch (IOException | VmException e) {
            if (sb != null) {
                sb.close();
            } else {
                if (net != null) {
                    net.tearDown().forEach(l -> log.info("{}", l));
                }
                // Nothing ran yet; the daemon's own state stays until it exits.
                StateCleaner.unmountUnder(paths.sharedBase());
                try {
                    StateCleaner.removeTree(paths.sharedBase());
                } catch (IOException cleanup) {
                    e.addSuppressed(cleanup);
                }
            }
            throw new TaskException(Status.Code.INTERNAL, "sandbox " + sandboxId + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            if (sb != null) {
                sb.close();
            } else if (net != null) {
                net.tearDown().forEach(l -> log.info("{}", l));
            }
            throw e;
        }
    }

    private static void writePid(SandboxPaths paths, String what, long pid) {
        try {
            PidFile.of(pid).write(paths.pidFile(what));
        } catch (IOException e) {
            log.warn("cannot record {} pid {}: {}", what, pid, e.toString());
        }
    }

    /** The VM's agent channel (vsock, or the bring-up serial port), dialed within the deadline. */
    private TtrpcClient dialGuest(long deadline) throws IOException {
        Duration left = Duration.ofNanos(Math.max(1, deadline - System.nanoTime()));
        return TtrpcClient.adopt(vm.agentChannel()
                .orElseThrow(() -> new IOException("the VM has no agent channel")).dial(left));
    }

    /** Dials the agent channel and waits for Health SERVING, then CreateSandbox. */
    private void connectAgent() throws IOException {
        Duration dial = config.agent().dialTimeout();
        long deadline = System.nanoTime() + dial.toNanos();
        Path socket = config.agent().agentSocket();
        String last = "no answer";
        while (System.nanoTime() < deadline) {
            if (vm.exitFuture().isDone()) {
                throw new IOException("the VM exited while waiting for the agent (console: " + vm.consoleLog() + ")");
            }
            try {
                if (client == null || client.isClosed()) {
                    client = socket != null ? TtrpcClient.connect(socket) : dialGuest(deadline);
                }
                // The first call runs cold code in a guest JVM that may share a loaded host's CPUs under
                // TCG: give it the time left (at most Kata's 30 s check timeout), not a short retry slice.
                long checkMs = Math.max(2000,
                        Math.min(HEALTH_CHECK.toMillis(), (deadline - System.nanoTime()) / 1_000_000));
                HealthCheckResponse r = HealthGrpc.newBlockingStub(client)
                        .withDeadlineAfter(checkMs, TimeUnit.MILLISECONDS).check(CheckRequest.getDefaultInstance());
                if (r.getStatus() == HealthCheckResponse.ServingStatus.SERVING) {
                    agent = AgentServiceGrpc.newBlockingStub(client);
                    break;
                }
                last = "agent health " + r.getStatus();
            } catch (IOException | StatusRuntimeException e) {
                last = e.getMessage();
                if (client != null && client.isClosed()) {
                    client.close();
                    client = null;
                }
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while dialing the agent");
            }
        }
        if (agent == null) {
            throw new IOException("the guest agent did not answer within " + dial.toSeconds()
                    + " s (agent.kata.dial_timeout): " + last + "; last console line: '" + lastConsoleLine() + "'");
        }
        log.info("agent of sandbox {} is serving", sandboxId);
        if (network != null) {
            GuestNetwork.apply(network, agent);
        }
        // The sandbox spec's hostname (CRI sets the pod's) names the VM; else the id, cut to a host name's length.
        String name = hostname.isEmpty() ? sandboxId : hostname;
        CreateSandboxRequest.Builder req = CreateSandboxRequest.newBuilder().setSandboxId(sandboxId)
                .setHostname(name.length() > 63 ? name.substring(0, 63) : name);
        if (config.hypervisor().sharedFs() == RuntimeConfig.SharedFs.VIRTIO_FS) {
            req.addStorages(Storage.newBuilder().setDriver("virtio-fs").setSource("kataShared").setFstype("virtiofs")
                    .setMountPoint(GUEST_SHARED).addOptions("nodev"));
        }
        req.addStorages(Storage.newBuilder().setDriver("ephemeral").setSource("shm").setFstype("tmpfs")
                .setMountPoint(HostMounts.GUEST_POD_SHM).addAllOptions(POD_SHM_OPTIONS));
        agent().createSandbox(req.build());
        Thread oom = new Thread(this::watchOom, "oom-" + sandboxId);
        oom.setDaemon(true);
        oom.start();
    }

    private String lastConsoleLine() {
        try {
            List<String> lines = Files.readAllLines(vm.consoleLog(), java.nio.charset.StandardCharsets.ISO_8859_1);
            for (int i = lines.size() - 1; i >= 0; i--) {
                String l = lines.get(i).strip();
                if (!l.isEmpty()) {
                    return l.length() > 200 ? l.substring(0, 200) : l;
                }
            }
        } catch (IOException e) {
            return "(no console log: " + e.getMessage() + ")";
        }
        return "";
    }

    private AgentServiceGrpc.AgentServiceBlockingStub agent() {
        if (agent == null || closed) {
            throw TaskException.precondition("sandbox " + sandboxId + " has no agent connection");
        }
        return agent.withDeadlineAfter(CALL.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void watchOom() {
        while (!closed) {
            try {
                String cid = agent.getOOMEvent(GetOOMEventRequest.getDefaultInstance()).getContainerId();
                if (!cid.isEmpty()) {
                    events.publish("/tasks/oom", TaskOOM.newBuilder().setContainerId(cid).build());
                }
            } catch (StatusRuntimeException e) {
                if (e.getStatus().getCode() == Status.Code.UNIMPLEMENTED || closed) {
                    return;
                }
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    @Override
    public long pid() {
        return vm.pid();
    }

    private static String key(String cid, String execId) {
        return cid + "\0" + execId;
    }

    /** The agent's exec id of a process: the container id for the init process (as Kata does). */
    private static String agentExecId(String cid, String execId) {
        return execId == null || execId.isEmpty() ? cid : execId;
    }

    @Override
    public void createContainer(String cid, Bundle bundle, List<Mount> rootfs, Stdio stdio) {
        Path target = paths.containerRootfs(cid);
        List<String> mounted = new ArrayList<>();
        containerMounts.put(cid, mounted);
        try {
            Files.createDirectories(target);
            if (rootfs.isEmpty()) {
                Path own = bundle.dir().resolve(bundle.spec().path("root").path("path").asText("rootfs"));
                Mounts.mount(List.of("--bind", own.toString(), target.toString()));
            } else {
                for (Mount m : rootfs) {
                    List<String> args = new ArrayList<>(List.of("-t", m.getType()));
                    if (m.getOptionsCount() > 0) {
                        args.addAll(List.of("-o", String.join(",", m.getOptionsList())));
                    }
                    args.addAll(List.of(m.getSource(), target.toString()));
                    Mounts.mount(args);
                }
            }
            mounted.add(target.toString());
        } catch (IOException e) {
            removeMounts(cid);
            throw new TaskException(Status.Code.INTERNAL, "rootfs of " + cid + ": " + e.getMessage(), e);
        }
        Spec.Builder spec = Spec.newBuilder();
        JsonToProto.merge(bundle.spec(), spec, k -> log.debug("spec key {} not passed to the agent", k));
        spec.clearHooks();
        spec.getRootBuilder().setPath(GUEST_SHARED + "/" + cid + "/rootfs");
        try {
            shareHostMounts(cid, spec);
        } catch (IOException e) {
            removeMounts(cid);
            throw new TaskException(Status.Code.INVALID_ARGUMENT, "mounts of " + cid + ": " + e.getMessage(), e);
        }
        try {
            agent().createContainer(CreateContainerRequest.newBuilder().setContainerId(cid).setExecId(cid)
                    .setOCI(spec).build());
        } catch (StatusRuntimeException e) {
            removeMounts(cid);
            throw agentError("CreateContainer " + cid, e);
        }
        ios.put(key(cid, ""), new ProcessIo(agent, cid, cid, stdio));
    }

    /** Binds the spec's host paths into the shared folder ({@link HostMounts}), read-only where asked. */
    private void shareHostMounts(String cid, Spec.Builder spec) throws IOException {
        for (HostMounts.Share share : HostMounts.plan(cid, spec, GUEST_SHARED)) {
            Path source = Path.of(share.source());
            if (!Files.exists(source)) {
                throw new IOException("bind mount source " + share.source() + " (for " + share.destination()
                        + ") does not exist");
            }
            Path target = paths.shared().resolve(cid).resolve("mounts").resolve(share.name());
            Files.createDirectories(target.getParent());
            if (Files.isDirectory(source)) {
                Files.createDirectories(target);
            } else if (!Files.exists(target)) {
                Files.createFile(target);
            }
            Mounts.mount(List.of(share.recursive() ? "--rbind" : "--bind", share.source(), target.toString()));
            if (share.readOnly()) {
                // Read-only on the host side too: a guest that ignored its own ro bind still cannot write.
                Mounts.mount(List.of("-o", "remount,bind,ro", target.toString()));
            }
        }
    }

    @Override
    public CompletableFuture<Integer> start(String cid, String execId) {
        String eid = agentExecId(cid, execId);
        ProcessIo pio = ios.get(key(cid, execId));
        try {
            if (execId.isEmpty()) {
                agent().startContainer(StartContainerRequest.newBuilder().setContainerId(cid).build());
            } else {
                ExecProcessRequest req = pendingExecs.remove(key(cid, execId));
                if (req == null) {
                    throw TaskException.notFound("exec " + execId);
                }
                agent().execProcess(req);
            }
        } catch (StatusRuntimeException e) {
            throw agentError("start " + cid + "/" + eid, e);
        }
        if (pio != null) {
            pio.start();
        }
        CompletableFuture<Integer> exit = new CompletableFuture<>();
        Thread waiter = new Thread(() -> {
            try {
                int status = agent.waitProcess(WaitProcessRequest.newBuilder().setContainerId(cid).setExecId(eid).build())
                        .getStatus();
                if (pio != null) {
                    // All output reaches containerd before the exit is published; a stream the guest
                    // never ends (a daemonized child holding it) must not hold the exit forever.
                    long t0 = System.nanoTime();
                    pio.awaitDrained(Duration.ofSeconds(60));
                    long ms = (System.nanoTime() - t0) / 1_000_000;
                    if (ms > 1000) {
                        log.info("output of {}/{} drained {} ms after its exit", cid, eid, ms);
                    }
                }
                exit.complete(status);
            } catch (RuntimeException e) {
                exit.completeExceptionally(e);
            }
        }, "wait-" + eid);
        waiter.setDaemon(true);
        waiter.start();
        return exit;
    }

    @Override
    public void exec(String cid, String execId, byte[] processJson, Stdio stdio) {
        JsonNode process;
        try {
            process = Bundle.json().readTree(processJson);
        } catch (IOException e) {
            throw new TaskException(Status.Code.INVALID_ARGUMENT, "exec spec is not JSON: " + e.getMessage());
        }
        io.nemu.proto.kata.Process.Builder p = io.nemu.proto.kata.Process.newBuilder();
        JsonToProto.merge(process, p, k -> log.debug("exec key {} not passed to the agent", k));
        pendingExecs.put(key(cid, execId), ExecProcessRequest.newBuilder().setContainerId(cid).setExecId(execId)
                .setProcess(p).build());
        ios.put(key(cid, execId), new ProcessIo(agent, cid, execId, stdio));
    }

    @Override
    public void signal(String cid, String execId, int signal, boolean all) {
        String eid = all && execId.isEmpty() ? "" : agentExecId(cid, execId);
        try {
            agent().signalProcess(SignalProcessRequest.newBuilder().setContainerId(cid).setExecId(eid)
                    .setSignal(signal).build());
        } catch (StatusRuntimeException e) {
            throw agentError("signal " + signal + " to " + cid + "/" + eid, e);
        }
    }

    @Override
    public void resizePty(String cid, String execId, int width, int height) {
        try {
            agent().ttyWinResize(TtyWinResizeRequest.newBuilder().setContainerId(cid)
                    .setExecId(agentExecId(cid, execId)).setRow(height).setColumn(width).build());
        } catch (StatusRuntimeException e) {
            throw agentError("resize " + cid, e);
        }
    }

    @Override
    public void closeStdin(String cid, String execId) {
        ProcessIo pio = ios.get(key(cid, execId));
        if (pio != null) {
            pio.closeIo();
        }
    }

    @Override
    public void pause(String cid) {
        try {
            agent().pauseContainer(PauseContainerRequest.newBuilder().setContainerId(cid).build());
        } catch (StatusRuntimeException e) {
            throw agentError("pause " + cid, e);
        }
    }

    @Override
    public void resume(String cid) {
        try {
            agent().resumeContainer(ResumeContainerRequest.newBuilder().setContainerId(cid).build());
        } catch (StatusRuntimeException e) {
            throw agentError("resume " + cid, e);
        }
    }

    @Override
    public Any stats(String cid) {
        CgroupStats s;
        try {
            s = agent().statsContainer(StatsContainerRequest.newBuilder().setContainerId(cid).build()).getCgroupStats();
        } catch (StatusRuntimeException e) {
            throw agentError("stats of " + cid, e);
        }
        return Any.newBuilder().setTypeUrl(Metrics.getDescriptor().getFullName())
                .setValue(toMetrics(s).toByteString()).build();
    }

    /** The agent's cgroup stats in containerd's cgroup v1 Metrics. */
    static Metrics toMetrics(CgroupStats s) {
        Metrics.Builder m = Metrics.newBuilder();
        if (s.hasPidsStats()) {
            m.setPids(PidsStat.newBuilder().setCurrent(s.getPidsStats().getCurrent()).setLimit(s.getPidsStats().getLimit()));
        }
        if (s.hasCpuStats()) {
            var u = s.getCpuStats().getCpuUsage();
            m.setCpu(CPUStat.newBuilder().setUsage(CPUUsage.newBuilder().setTotal(u.getTotalUsage())
                    .setKernel(u.getUsageInKernelmode()).setUser(u.getUsageInUsermode()).addAllPerCpu(u.getPercpuUsageList()))
                    .setThrottling(io.nemu.proto.containerd.cgroups.v1.Throttle.newBuilder()
                            .setPeriods(s.getCpuStats().getThrottlingData().getPeriods())
                            .setThrottledPeriods(s.getCpuStats().getThrottlingData().getThrottledPeriods())
                            .setThrottledTime(s.getCpuStats().getThrottlingData().getThrottledTime())));
        }
        if (s.hasMemoryStats()) {
            var ms = s.getMemoryStats();
            Map<String, Long> st = ms.getStatsMap();
            m.setMemory(MemoryStat.newBuilder().setCache(ms.getCache()).setRss(st.getOrDefault("rss", 0L))
                    .setTotalRss(st.getOrDefault("total_rss", 0L)).setTotalCache(st.getOrDefault("total_cache", 0L))
                    .setUsage(entry(ms.getUsage())).setSwap(entry(ms.getSwapUsage())).setKernel(entry(ms.getKernelUsage())));
        }
        return m.build();
    }

    private static MemoryEntry entry(io.nemu.proto.kata.MemoryData d) {
        return MemoryEntry.newBuilder().setUsage(d.getUsage()).setMax(d.getMaxUsage()).setFailcnt(d.getFailcnt())
                .setLimit(d.getLimit()).build();
    }

    @Override
    public void update(String cid, Any resources) {
        LinuxResources.Builder r = LinuxResources.newBuilder();
        try {
            JsonToProto.merge(Bundle.json().readTree(resources.getValue().toByteArray()), r,
                    k -> log.debug("resource {} not passed to the agent", k));
        } catch (IOException e) {
            throw new TaskException(Status.Code.INVALID_ARGUMENT, "resources are not JSON: " + e.getMessage());
        }
        try {
            agent().updateContainer(UpdateContainerRequest.newBuilder().setContainerId(cid).setResources(r).build());
        } catch (StatusRuntimeException e) {
            throw agentError("update " + cid, e);
        }
    }

    @Override
    public List<Integer> pids(String cid) {
        // The agent API has no process list: report the VM, as Kata does.
        return List.of((int) vm.pid());
    }

    @Override
    public void removeContainer(String cid) {
        try {
            if (agent != null && !closed) {
                agent().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(cid).setTimeout(10).build());
            }
        } catch (StatusRuntimeException e) {
            log.warn("RemoveContainer {}: {}", cid, e.getStatus());
        } finally {
            ios.keySet().removeIf(k -> k.startsWith(cid + "\0"));
            removeMounts(cid);
        }
    }

    @Override
    public void removeExec(String cid, String execId) {
        ios.remove(key(cid, execId));
        pendingExecs.remove(key(cid, execId));
    }

    private void removeMounts(String cid) {
        StateCleaner.unmountUnder(paths.shared().resolve(cid));
        try {
            StateCleaner.removeTree(paths.shared().resolve(cid));
        } catch (IOException e) {
            log.warn("cannot remove {}: {}", paths.shared().resolve(cid), e.toString());
        }
        containerMounts.remove(cid);
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        if (agent != null) {
            try {
                agent.withDeadlineAfter(5, TimeUnit.SECONDS).destroySandbox(DestroySandboxRequest.getDefaultInstance());
            } catch (StatusRuntimeException e) {
                log.debug("DestroySandbox: {}", e.getStatus());
            }
        }
        closed = true;
        if (client != null) {
            client.close();
        }
        log.info("stopping VM of sandbox {}", sandboxId);
        long t0 = System.nanoTime();
        // Nothing in the guest outlives the sandbox: no ACPI power-off dance, QMP quit at once (as Kata).
        vm.stop(Duration.ZERO);
        log.info("VM of sandbox {} stopped in {} ms", sandboxId, (System.nanoTime() - t0) / 1_000_000);
        if (network != null) {
            network.tearDown().forEach(l -> log.info("{}", l));
        }
        for (String line : StateCleaner.unmountUnder(paths.sharedBase())) {
            log.info("{}", line);
        }
        try {
            StateCleaner.removeTree(paths.sharedBase());
            Files.deleteIfExists(paths.pidFile("qemu"));
            Files.deleteIfExists(paths.pidFile("virtiofsd"));
        } catch (IOException e) {
            log.warn("cleaning sandbox {}: {}", sandboxId, e.toString());
        }
    }

    private static TaskException agentError(String what, StatusRuntimeException e) {
        Status.Code code = e.getStatus().getCode();
        if (code == Status.Code.UNKNOWN || code == Status.Code.UNAVAILABLE) {
            code = Status.Code.INTERNAL;
        }
        return new TaskException(code, "agent: " + what + ": " + e.getStatus().getDescription(), e);
    }
}
