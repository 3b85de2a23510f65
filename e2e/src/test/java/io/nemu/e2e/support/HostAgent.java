package io.nemu.e2e.support;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.nemu.contract.GuestContract;
import io.nemu.proto.kata.AgentServiceGrpc;
import io.nemu.proto.kata.CgroupStats;
import io.nemu.proto.kata.CheckRequest;
import io.nemu.proto.kata.CloseStdinRequest;
import io.nemu.proto.kata.CreateContainerRequest;
import io.nemu.proto.kata.CreateSandboxRequest;
import io.nemu.proto.kata.DestroySandboxRequest;
import io.nemu.proto.kata.ExecProcessRequest;
import io.nemu.proto.kata.GetOOMEventRequest;
import io.nemu.proto.kata.HealthCheckResponse;
import io.nemu.proto.kata.HealthGrpc;
import io.nemu.proto.kata.MemoryData;
import io.nemu.proto.kata.MemoryStats;
import io.nemu.proto.kata.OOMEvent;
import io.nemu.proto.kata.PauseContainerRequest;
import io.nemu.proto.kata.ReadStreamRequest;
import io.nemu.proto.kata.ReadStreamResponse;
import io.nemu.proto.kata.RemoveContainerRequest;
import io.nemu.proto.kata.ResumeContainerRequest;
import io.nemu.proto.kata.SignalProcessRequest;
import io.nemu.proto.kata.Spec;
import io.nemu.proto.kata.StartContainerRequest;
import io.nemu.proto.kata.StatsContainerRequest;
import io.nemu.proto.kata.StatsContainerResponse;
import io.nemu.proto.kata.WaitProcessRequest;
import io.nemu.proto.kata.WaitProcessResponse;
import io.nemu.proto.kata.WriteStreamRequest;
import io.nemu.proto.kata.WriteStreamResponse;
import io.nemu.shim.sandbox.SandboxPaths;
import io.nemu.ttrpc.TtrpcServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A Kata agent on the host, for testing the shim's host side while the guest has no agent: it answers
 * the agent API on a unix socket (the shim daemon dials it when {@code NEMU_TEST_AGENT_SOCKET} names it in
 * the daemon's environment) and runs each process with
 * {@code chroot} in the container's rootfs as the shim shared it (the host side of the virtio-fs folder).
 * It checks what a guest agent relies on: the rootfs and bind mounts are visible under the shared folder.
 */
public final class HostAgent implements AutoCloseable {
    private static final String GUEST_SHARED = GuestContract.SHARED_DIR;
    private static final Path HOST_SHARED = SandboxPaths.defaultRoot().resolve("shared").resolve("sandboxes");

    /** What the shim asked, one line a call (e.g. {@code CreateContainer c1 /bin/echo joined}), in order. */
    public final List<String> calls = new CopyOnWriteArrayList<>();
    private final Map<String, Spec> specs = new ConcurrentHashMap<>();
    private final Map<String, Process> procs = new ConcurrentHashMap<>();
    private final TtrpcServer server;
    private final java.util.concurrent.BlockingQueue<String> ooms = new java.util.concurrent.LinkedBlockingQueue<>();

    /** Makes the next GetOOMEvent answer name this container (as a guest OOM kill would). */
    public void oom(String containerId) {
        ooms.add(containerId);
    }

    public HostAgent(Path socket) throws IOException {
        server = TtrpcServer.builder().addService(new Agent()).addService(new Health()).build();
        server.bind(socket);
    }

    @Override
    public void close() {
        for (int i = 0; i < 64; i++) {
            ooms.add(""); // ends pending long polls
        }
        server.close();
        procs.values().forEach(p -> p.toHandle().destroyForcibly());
    }

    /** Where the shim put a guest path of the shared folder on the host. */
    private static Path hostPath(String guestPath) {
        if (!guestPath.startsWith(GUEST_SHARED + "/")) {
            throw Status.INVALID_ARGUMENT.withDescription("not under the shared folder: " + guestPath).asRuntimeException();
        }
        String rel = guestPath.substring(GUEST_SHARED.length() + 1);
        try (var sandboxes = Files.list(HOST_SHARED)) {
            for (Path sb : (Iterable<Path>) sandboxes::iterator) {
                Path p = sb.resolve("shared").resolve(rel);
                if (Files.exists(p)) {
                    return p;
                }
            }
        } catch (IOException e) {
            // fall through
        }
        throw Status.FAILED_PRECONDITION.withDescription("not visible in any shared folder: " + guestPath).asRuntimeException();
    }

    private static String key(String cid, String eid) {
        return cid + "/" + (eid.isEmpty() ? cid : eid);
    }

    private Process proc(String cid, String eid) {
        Process p = procs.get(key(cid, eid));
        if (p == null) {
            throw Status.NOT_FOUND.withDescription("no process " + key(cid, eid)).asRuntimeException();
        }
        return p;
    }

    private Process spawn(String cid, String eid, io.nemu.proto.kata.Process process) throws IOException {
        Path rootfs = hostPath(specs.get(cid).getRoot().getPath());
        List<String> cmd = new ArrayList<>(List.of("/usr/sbin/chroot", rootfs.toString()));
        cmd.addAll(process.getArgsList());
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().clear();
        for (String e : process.getEnvList()) {
            int i = e.indexOf('=');
            if (i > 0) {
                pb.environment().put(e.substring(0, i), e.substring(i + 1));
            }
        }
        Process p = pb.start();
        procs.put(key(cid, eid), p);
        return p;
    }

    /** Signals every process of the container (its init and its execs). */
    private void signalAll(String cid, int signal) {
        procs.forEach((k, p) -> {
            if (k.startsWith(cid + "/")) {
                kill(p.pid(), signal);
            }
        });
    }

    private static <T> void reply(StreamObserver<T> o, T v) {
        o.onNext(v);
        o.onCompleted();
    }

    private static void fail(StreamObserver<?> o, Exception e) {
        o.onError(e instanceof io.grpc.StatusRuntimeException ? e
                : Status.INTERNAL.withDescription(e.toString()).asRuntimeException());
    }

    private static void kill(long pid, int signal) {
        try {
            new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).start().waitFor();
        } catch (IOException | InterruptedException e) {
            throw Status.INTERNAL.withDescription(e.toString()).asRuntimeException();
        }
    }

    final class Health extends HealthGrpc.HealthImplBase {
        @Override
        public void check(CheckRequest r, StreamObserver<HealthCheckResponse> o) {
            reply(o, HealthCheckResponse.newBuilder().setStatus(HealthCheckResponse.ServingStatus.SERVING).build());
        }
    }

    final class Agent extends AgentServiceGrpc.AgentServiceImplBase {
        @Override
        public void createSandbox(CreateSandboxRequest r, StreamObserver<Empty> o) {
            calls.add("CreateSandbox " + r.getSandboxId() + " " + r.getStorages(0).getDriver() + ":" + r.getStorages(0).getSource());
            reply(o, Empty.getDefaultInstance());
        }

        @Override
        public void destroySandbox(DestroySandboxRequest r, StreamObserver<Empty> o) {
            calls.add("DestroySandbox");
            reply(o, Empty.getDefaultInstance());
        }

        @Override
        public void createContainer(CreateContainerRequest r, StreamObserver<Empty> o) {
            try {
                Path rootfs = hostPath(r.getOCI().getRoot().getPath());
                if (!Files.isExecutable(rootfs.resolve("bin/busybox"))) {
                    throw Status.FAILED_PRECONDITION.withDescription("rootfs not shared: " + rootfs).asRuntimeException();
                }
                for (io.nemu.proto.kata.Mount m : r.getOCI().getMountsList()) {
                    if (m.getSource().startsWith(GUEST_SHARED)) {
                        hostPath(m.getSource());
                    }
                }
                specs.put(r.getContainerId(), r.getOCI());
                calls.add("CreateContainer " + r.getContainerId() + " " + String.join(" ", r.getOCI().getProcess().getArgsList()));
                reply(o, Empty.getDefaultInstance());
            } catch (Exception e) {
                fail(o, e);
            }
        }

        @Override
        public void startContainer(StartContainerRequest r, StreamObserver<Empty> o) {
            try {
                spawn(r.getContainerId(), "", specs.get(r.getContainerId()).getProcess());
                calls.add("StartContainer " + r.getContainerId());
                reply(o, Empty.getDefaultInstance());
            } catch (Exception e) {
                fail(o, e);
            }
        }

        @Override
        public void execProcess(ExecProcessRequest r, StreamObserver<Empty> o) {
            try {
                spawn(r.getContainerId(), r.getExecId(), r.getProcess());
                calls.add("ExecProcess " + r.getContainerId() + " " + r.getExecId());
                reply(o, Empty.getDefaultInstance());
            } catch (Exception e) {
                fail(o, e);
            }
        }

        @Override
        public void waitProcess(WaitProcessRequest r, StreamObserver<WaitProcessResponse> o) {
            try {
                int code = proc(r.getContainerId(), r.getExecId()).waitFor();
                reply(o, WaitProcessResponse.newBuilder().setStatus(code).build());
            } catch (Exception e) {
                fail(o, e);
            }
        }

        @Override
        public void signalProcess(SignalProcessRequest r, StreamObserver<Empty> o) {
            try {
                calls.add("SignalProcess " + r.getContainerId() + " " + r.getExecId() + " " + r.getSignal());
                if (r.getExecId().isEmpty()) {
                    signalAll(r.getContainerId(), r.getSignal());
                } else {
                    kill(proc(r.getContainerId(), r.getExecId()).pid(), r.getSignal());
                }
                reply(o, Empty.getDefaultInstance());
            } catch (Exception e) {
                fail(o, e);
            }
        }

        @Override
        public void readStdout(ReadStreamRequest r, StreamObserver<ReadStreamResponse> o) {
            read(proc(r.getContainerId(), r.getExecId()).getInputStream(), r.getLen(), o);
        }

        @Override
        public void readStderr(ReadStreamRequest r, StreamObserver<ReadStreamResponse> o) {
            read(proc(r.getContainerId(), r.getExecId()).getErrorStream(), r.getLen(), o);
        }

        private void read(InputStream in, int len, StreamObserver<ReadStreamResponse> o) {
            try {
                byte[] b = new byte[Math.max(1, Math.min(len, 65536))];
                int n = in.read(b);
                if (n < 0) {
                    o.onError(Status.NOT_FOUND.withDescription("eof").asRuntimeException());
                    return;
                }
                reply(o, ReadStreamResponse.newBuilder().setData(ByteString.copyFrom(b, 0, n)).build());
            } catch (IOException e) {
                o.onError(Status.NOT_FOUND.withDescription("eof: " + e).asRuntimeException());
            }
        }

        @Override
        public void writeStdin(WriteStreamRequest r, StreamObserver<WriteStreamResponse> o) {
            try {
                OutputStream out = proc(r.getContainerId(), r.getExecId()).getOutputStream();
                r.getData().writeTo(out);
                out.flush();
                reply(o, WriteStreamResponse.newBuilder().setLen(r.getData().size()).build());
            } catch (Exception e) {
                fail(o, e);
            }
        }

        @Override
        public void closeStdin(CloseStdinRequest r, StreamObserver<Empty> o) {
            try {
                proc(r.getContainerId(), r.getExecId()).getOutputStream().close();
                reply(o, Empty.getDefaultInstance());
            } catch (Exception e) {
                fail(o, e);
            }
        }

        @Override
        public void pauseContainer(PauseContainerRequest r, StreamObserver<Empty> o) {
            signalAll(r.getContainerId(), 19); // SIGSTOP
            calls.add("PauseContainer " + r.getContainerId());
            reply(o, Empty.getDefaultInstance());
        }

        @Override
        public void resumeContainer(ResumeContainerRequest r, StreamObserver<Empty> o) {
            signalAll(r.getContainerId(), 18); // SIGCONT
            calls.add("ResumeContainer " + r.getContainerId());
            reply(o, Empty.getDefaultInstance());
        }

        @Override
        public void statsContainer(StatsContainerRequest r, StreamObserver<StatsContainerResponse> o) {
            long rss = 0;
            try {
                for (String l : Files.readAllLines(Path.of("/proc/" + proc(r.getContainerId(), "").pid() + "/status"))) {
                    if (l.startsWith("VmRSS:")) {
                        rss = Long.parseLong(l.replaceAll("[^0-9]", "")) * 1024;
                    }
                }
            } catch (Exception e) {
                fail(o, e);
                return;
            }
            reply(o, StatsContainerResponse.newBuilder().setCgroupStats(CgroupStats.newBuilder()
                    .setMemoryStats(MemoryStats.newBuilder().setUsage(MemoryData.newBuilder().setUsage(rss)))).build());
        }

        @Override
        public void updateContainer(io.nemu.proto.kata.UpdateContainerRequest r, StreamObserver<Empty> o) {
            calls.add("UpdateContainer " + r.getContainerId() + " memory.limit=" + r.getResources().getMemory().getLimit());
            reply(o, Empty.getDefaultInstance());
        }

        @Override
        public void removeContainer(RemoveContainerRequest r, StreamObserver<Empty> o) {
            procs.entrySet().removeIf(e -> {
                if (e.getKey().startsWith(r.getContainerId() + "/")) {
                    e.getValue().toHandle().destroyForcibly();
                    return true;
                }
                return false;
            });
            specs.remove(r.getContainerId());
            calls.add("RemoveContainer " + r.getContainerId());
            reply(o, Empty.getDefaultInstance());
        }

        @Override
        public void getOOMEvent(GetOOMEventRequest r, StreamObserver<OOMEvent> o) {
            // Long poll, as the real agent: answers when a container was OOM-killed.
            try {
                String cid = ooms.take();
                if (cid.isEmpty()) {
                    o.onError(Status.CANCELLED.withDescription("agent closing").asRuntimeException());
                    return;
                }
                reply(o, OOMEvent.newBuilder().setContainerId(cid).build());
            } catch (InterruptedException e) {
                o.onError(Status.CANCELLED.asRuntimeException());
            }
        }
    }
}
