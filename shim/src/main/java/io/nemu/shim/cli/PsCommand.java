package io.nemu.shim.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nemu.shim.sandbox.HostSandbox;
import io.nemu.shim.sandbox.PidFile;
import io.nemu.shim.sandbox.SandboxPaths;
import io.nemu.shim.sandbox.SandboxRecord;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code nemu ps}: the sandboxes on this host, from their state folders (see {@link HostSandbox}). */
@Command(name = "ps", mixinStandardHelpOptions = true,
        description = "List the sandboxes (pod VMs) on this host: id, pod, machine profile, vCPUs, memory, QEMU pid,"
                + " uptime, status. A sandbox whose shim daemon died is listed as stale.")
final class PsCommand implements Callable<Integer> {
    private static final String FORMAT = "%-14s %-28s %-12s %5s %8s %8s %8s  %s%n";

    @Spec
    CommandSpec spec;

    @Option(names = "--json", description = "One JSON array, full ids, for machines.")
    boolean json;

    @Option(names = "--no-trunc", description = "Full sandbox ids.")
    boolean noTrunc;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        List<HostSandbox> all;
        try {
            all = HostSandbox.list(SandboxPaths.defaultRoot());
        } catch (IOException e) {
            spec.commandLine().getErr().println("nemu ps: cannot list " + SandboxPaths.defaultRoot() + ": " + e.getMessage());
            return 1;
        }
        long now = System.currentTimeMillis();
        if (json) {
            out.println(toJson(all, now));
            out.flush();
            return 0;
        }
        out.printf(FORMAT, "SANDBOX", "POD", "PROFILE", "VCPUS", "MEMORY", "QEMU", "UPTIME", "STATUS");
        for (HostSandbox s : all) {
            SandboxRecord r = s.record().orElse(null);
            String pod = r == null ? "-" : r.pod().isEmpty() ? "(not CRI)" : r.namespace() + "/" + r.pod();
            String status = s.status() + (s.problem().isEmpty() ? "" : " (" + s.problem() + ")");
            out.printf(FORMAT, noTrunc ? s.id() : shortId(s.id()), pod, r == null ? "-" : r.profile(),
                    r == null ? "-" : Integer.toString(r.vcpus()), r == null ? "-" : r.memoryMib() + "Mi",
                    s.qemu().map(p -> Long.toString(p.pid())).orElse("-"),
                    r == null ? "-" : uptime(Duration.ofMillis(Math.max(0, now - r.startedAt()))), status);
        }
        out.flush();
        return 0;
    }

    private static String toJson(List<HostSandbox> all, long now) {
        ObjectMapper m = new ObjectMapper();
        ArrayNode a = m.createArrayNode();
        for (HostSandbox s : all) {
            ObjectNode o = a.addObject();
            o.put("id", s.id());
            o.put("status", s.status().name().toLowerCase());
            s.daemon().map(PidFile::pid).ifPresent(p -> o.put("shimPid", p));
            s.qemu().map(PidFile::pid).ifPresent(p -> o.put("qemuPid", p));
            s.record().ifPresent(r -> {
                o.put("pod", r.pod());
                o.put("namespace", r.namespace());
                o.put("profile", r.profile());
                o.put("vcpus", r.vcpus());
                o.put("memoryMib", r.memoryMib());
                o.put("uptimeSeconds", Math.max(0, now - r.startedAt()) / 1000);
                o.put("config", r.config());
                o.put("debugConsole", r.debugConsole());
            });
            if (!s.problem().isEmpty()) {
                o.put("problem", s.problem());
            }
        }
        return a.toPrettyString();
    }

    static String shortId(String id) {
        return id.length() <= 13 ? id : id.substring(0, 13);
    }

    static String uptime(Duration d) {
        long s = d.toSeconds();
        if (s < 60) {
            return s + "s";
        }
        if (s < 3600) {
            return s / 60 + "m" + String.format("%02d", s % 60) + "s";
        }
        return s / 3600 + "h" + String.format("%02d", s / 60 % 60) + "m";
    }
}
