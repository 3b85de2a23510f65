package io.nemu.shim.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.nemu.proto.kata.VolumeStatsResponse;
import io.nemu.proto.kata.VolumeUsage;
import io.nemu.proto.shim.HostVolumeStatsRequest;
import io.nemu.proto.shim.HostVolumeStatsResponse;
import io.nemu.proto.shim.VolumesGrpc;
import io.nemu.shim.daemon.DaemonLock;
import io.nemu.shim.sandbox.HostSandbox;
import io.nemu.shim.sandbox.SandboxPaths;
import io.nemu.ttrpc.TtrpcClient;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code nemu direct-volume stats VOLUME_PATH} (Kata's {@code kata-runtime direct-volume stats}): the guest's
 * statfs of a volume, found by the host path a container mounts. Asks the shim daemon of every running sandbox
 * on its ttrpc socket (the {@code address} file in the sandbox's state folder names it); the daemon whose pod
 * mounts the path maps it to the guest path and asks that pod's agent. Prints the answer as Kata's shim does.
 */
@Command(name = "direct-volume", mixinStandardHelpOptions = true,
        description = "Volumes of the sandboxes on this host (Kata's kata-runtime direct-volume).",
        subcommands = DirectVolumeCommand.Stats.class)
final class DirectVolumeCommand {

    @Command(name = "stats", mixinStandardHelpOptions = true,
            description = "Print the guest's bytes and inodes (total, used, available) of the volume a container mounts"
                    + " from VOLUME_PATH, as JSON. Needs root.",
            footer = "VOLUME_PATH is the host path of a container's mount: a folder or file shared with the VM, or a"
                    + " block device or raw image file attached as a disk.")
    static final class Stats implements Callable<Integer> {
        /** Longer than the daemon's own deadline for the agent's answer (60 s). */
        private static final long DEADLINE_SECONDS = 90;

        @Spec
        CommandSpec spec;

        @Parameters(index = "0", paramLabel = "VOLUME_PATH")
        String volumePath;

        @Override
        public Integer call() {
            PrintWriter err = spec.commandLine().getErr();
            if (!ExecCommand.root()) {
                err.println("nemu direct-volume stats: needs root (the shim daemons' sockets are root's alone)");
                return 1;
            }
            Path path = Path.of(volumePath).toAbsolutePath().normalize();
            if (!Files.exists(path)) {
                err.println("nemu direct-volume stats: volume path " + path + " does not exist");
                return 1;
            }
            Map<Path, List<String>> daemons = new LinkedHashMap<>();
            List<String> stale = new ArrayList<>();
            try {
                for (HostSandbox s : HostSandbox.list(SandboxPaths.defaultRoot())) {
                    Path address = s.paths().state().resolve(DaemonLock.ADDRESS);
                    if (s.status() == HostSandbox.Status.STALE || !Files.isRegularFile(address)) {
                        stale.add(s.id());
                        continue;
                    }
                    Path socket = Path.of(Files.readString(address, StandardCharsets.UTF_8).strip());
                    daemons.computeIfAbsent(socket, k -> new ArrayList<>()).add(s.id());
                }
            } catch (IOException e) {
                err.println("nemu direct-volume stats: cannot list " + SandboxPaths.defaultRoot() + ": " + e.getMessage());
                return 1;
            }
            List<String> unasked = new ArrayList<>();
            for (Map.Entry<Path, List<String>> d : daemons.entrySet()) {
                HostVolumeStatsResponse r;
                try (TtrpcClient client = TtrpcClient.connect(d.getKey())) {
                    r = VolumesGrpc.newBlockingStub(client).withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS)
                            .stats(HostVolumeStatsRequest.newBuilder().setVolumePath(path.toString()).build());
                } catch (IOException e) {
                    unasked.add(String.join(", ", d.getValue()) + " (shim daemon " + d.getKey() + ": " + e.getMessage() + ")");
                    continue;
                } catch (StatusRuntimeException e) {
                    Status.Code code = e.getStatus().getCode();
                    if (code == Status.Code.NOT_FOUND) {
                        continue;
                    }
                    if (code == Status.Code.UNIMPLEMENTED) {
                        unasked.add(String.join(", ", d.getValue()) + " (their shim daemon predates direct-volume stats)");
                        continue;
                    }
                    err.println("nemu direct-volume stats: " + e.getStatus().getDescription());
                    return 1;
                }
                PrintWriter out = spec.commandLine().getOut();
                out.println(json(r.getStats()));
                out.flush();
                return 0;
            }
            err.println("nemu direct-volume stats: no running sandbox on this host holds volume " + path + " (asked "
                    + daemons.size() + " shim daemon(s) of " + daemons.values().stream().mapToInt(List::size).sum()
                    + " sandbox(es)" + (stale.isEmpty() ? "" : "; not running, so not asked: " + String.join(", ", stale))
                    + (unasked.isEmpty() ? "" : "; not answered: " + String.join("; ", unasked)) + ")");
            return 1;
        }
    }

    /** Kata's shim answers with its agent's VolumeStatsResponse as Go's encoding/json writes it: units as numbers. */
    static String json(VolumeStatsResponse r) {
        ObjectMapper m = new ObjectMapper();
        ObjectNode o = m.createObjectNode();
        ArrayNode usage = o.putArray("usage");
        for (VolumeUsage u : r.getUsageList()) {
            usage.addObject().put("available", u.getAvailable())
                    .put("total", u.getTotal()).put("used", u.getUsed()).put("unit", u.getUnitValue());
        }
        o.putObject("volume_condition").put("abnormal", r.getVolumeCondition().getAbnormal())
                .put("message", r.getVolumeCondition().getMessage());
        return o.toString();
    }
}
