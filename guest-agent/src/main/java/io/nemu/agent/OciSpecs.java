package io.nemu.agent;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nemu.proto.kata.Box;
import io.nemu.proto.kata.LinuxBlockIO;
import io.nemu.proto.kata.LinuxCPU;
import io.nemu.proto.kata.LinuxCapabilities;
import io.nemu.proto.kata.LinuxDevice;
import io.nemu.proto.kata.LinuxDeviceCgroup;
import io.nemu.proto.kata.LinuxHugepageLimit;
import io.nemu.proto.kata.LinuxIDMapping;
import io.nemu.proto.kata.LinuxMemory;
import io.nemu.proto.kata.LinuxResources;
import io.nemu.proto.kata.LinuxSeccomp;
import io.nemu.proto.kata.LinuxSeccompArg;
import io.nemu.proto.kata.LinuxSyscall;
import io.nemu.proto.kata.LinuxThrottleDevice;
import io.nemu.proto.kata.LinuxWeightDevice;
import io.nemu.proto.kata.Mount;
import io.nemu.proto.kata.POSIXRlimit;
import io.nemu.proto.kata.Process;
import io.nemu.proto.kata.Spec;
import io.nemu.proto.kata.StringUser;
import java.util.List;
import java.util.Map;

/**
 * The Kata protobuf OCI spec turned into the OCI runtime JSON that crun reads. Zero values of
 * the protobuf stand for "unset" and are left out, as the JSON spec has no zeros for them.
 */
final class OciSpecs {
    private OciSpecs() {}

    // Only the tree model and the streaming writer: an ObjectMapper would load ~300 more classes.
    static final JsonNodeFactory JSON = JsonNodeFactory.instance;
    private static final JsonFactory WRITER = new JsonFactory();

    /** The tree as JSON bytes. */
    static byte[] bytes(JsonNode tree) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(4096);
        try (JsonGenerator g = WRITER.createGenerator(out)) {
            write(tree, g);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static void write(JsonNode n, JsonGenerator g) throws java.io.IOException {
        switch (n.getNodeType()) {
            case OBJECT -> {
                g.writeStartObject();
                for (var it = n.fields(); it.hasNext(); ) {
                    var e = it.next();
                    g.writeFieldName(e.getKey());
                    write(e.getValue(), g);
                }
                g.writeEndObject();
            }
            case ARRAY -> {
                g.writeStartArray();
                for (JsonNode c : n) {
                    write(c, g);
                }
                g.writeEndArray();
            }
            case STRING -> g.writeString(n.textValue());
            case BOOLEAN -> g.writeBoolean(n.booleanValue());
            case NUMBER -> {
                if (n.isBigInteger()) {
                    g.writeNumber(n.bigIntegerValue());
                } else if (n.isIntegralNumber()) {
                    g.writeNumber(n.longValue());
                } else {
                    g.writeNumber(n.doubleValue());
                }
            }
            default -> g.writeNull();
        }
    }

    /**
     * The pid, ipc and uts namespaces of a container, which the agent decides on: {@code null} means a new
     * one, {@link #GUEST} none (the container stays in the guest's own, as a host namespace under runc),
     * anything else the path of the namespace to join.
     */
    record Namespaces(String pidPath, String ipcPath, String utsPath) {
        static final String GUEST = "";

        /**
         * From the spec's entries, as CRI writes them: an entry with a path joins the pod's namespace (the
         * host path, e.g. /proc/QEMU-PID/ns/ipc, means nothing in the guest: {@code podBase} + type stands
         * for it; with no pod yet it is a new one), an entry without a path is a new namespace, no entry is
         * the guest's (hostPID/hostIPC). {@code podPid} joins the pod's pid namespace whenever there is an
         * entry (the sandbox asked for one shared pid namespace).
         */
        static Namespaces resolve(io.nemu.proto.kata.Linux l, String podBase, boolean podPid) {
            return new Namespaces(one(l, "pid", podBase, podPid), one(l, "ipc", podBase, false),
                    one(l, "uts", podBase, false));
        }

        private static String one(io.nemu.proto.kata.Linux l, String type, String podBase, boolean join) {
            for (var n : l.getNamespacesList()) {
                if (n.getType().equals(type)) {
                    return podBase != null && (join || !n.getPath().isEmpty()) ? podBase + type : null;
                }
            }
            return GUEST;
        }
    }

    static ObjectNode config(Spec spec, String rootPath, String cgroupsPath, Namespaces ns, StringUser user) {
        ObjectNode c = JSON.objectNode();
        c.put("ociVersion", spec.getVersion().isEmpty() ? "1.0.2" : spec.getVersion());
        if (!spec.hasProcess()) {
            throw AgentException.invalid("OCI.Process is missing");
        }
        c.set("process", process(spec.getProcess(), user, "OCI.Process"));
        ObjectNode root = c.putObject("root");
        root.put("path", rootPath);
        if (spec.getRoot().getReadonly()) {
            root.put("readonly", true);
        }
        // A joined UTS namespace already has the pod's hostname; crun refuses to set it there.
        // Nor outside a UTS namespace of its own (the guest's is the VM's).
        if (!spec.getHostname().isEmpty() && ns.utsPath() == null) {
            c.put("hostname", spec.getHostname());
        }
        ArrayNode mounts = c.putArray("mounts");
        for (int i = 0; i < spec.getMountsCount(); i++) {
            Mount m = spec.getMounts(i);
            if (!m.getDestination().startsWith("/")) {
                throw AgentException.invalid("OCI.Mounts[" + i + "].destination must be an absolute path, got '"
                        + m.getDestination() + "'");
            }
            ObjectNode j = mounts.addObject();
            j.put("destination", m.getDestination());
            if (!m.getType().isEmpty()) {
                j.put("type", m.getType());
            }
            if (!m.getSource().isEmpty()) {
                j.put("source", m.getSource());
            }
            strings(j, "options", m.getOptionsList());
        }
        if (!spec.getAnnotationsMap().isEmpty()) {
            ObjectNode a = c.putObject("annotations");
            spec.getAnnotationsMap().forEach(a::put);
        }
        // Host hooks name host binaries; the guest cannot run them (Kata drops them too).
        c.set("linux", linux(spec.getLinux(), cgroupsPath, ns));
        return c;
    }

    static ObjectNode process(Process p, StringUser stringUser, String where) {
        if (p.getArgsCount() == 0 || p.getArgs(0).isEmpty()) {
            throw AgentException.invalid(where + ".Args is empty");
        }
        String cwd = p.getCwd().isEmpty() ? "/" : p.getCwd();
        if (!cwd.startsWith("/")) {
            throw AgentException.invalid(where + ".Cwd must be an absolute path, got '" + cwd + "'");
        }
        ObjectNode j = JSON.objectNode();
        if (p.getTerminal()) {
            j.put("terminal", true);
            Box b = p.getConsoleSize();
            if (b.getHeight() > 0 && b.getWidth() > 0) {
                j.putObject("consoleSize").put("height", b.getHeight()).put("width", b.getWidth());
            }
        }
        ObjectNode u = j.putObject("user");
        long uid = p.getUser().getUID();
        long gid = p.getUser().getGID();
        // A StringUser of the request wins when it is numeric (Kata fills it from the image).
        if (stringUser != null && !stringUser.getUid().isEmpty()) {
            uid = number(stringUser.getUid(), where + " string_user.uid");
            if (!stringUser.getGid().isEmpty()) {
                gid = number(stringUser.getGid(), where + " string_user.gid");
            }
        }
        u.put("uid", uid);
        u.put("gid", gid);
        if (p.getUser().getAdditionalGidsCount() > 0) {
            ArrayNode g = u.putArray("additionalGids");
            p.getUser().getAdditionalGidsList().forEach(x -> g.add(x.longValue() & 0xffffffffL));
        }
        strings(j, "args", p.getArgsList());
        List<String> env = p.getEnvList();
        for (String e : env) {
            if (!e.contains("=")) {
                throw AgentException.invalid(where + ".Env entry '" + e + "' is not NAME=VALUE");
            }
        }
        strings(j, "env", env);
        j.put("cwd", cwd);
        if (p.hasCapabilities()) {
            LinuxCapabilities caps = p.getCapabilities();
            ObjectNode cj = j.putObject("capabilities");
            strings(cj, "bounding", caps.getBoundingList());
            strings(cj, "effective", caps.getEffectiveList());
            strings(cj, "inheritable", caps.getInheritableList());
            strings(cj, "permitted", caps.getPermittedList());
            strings(cj, "ambient", caps.getAmbientList());
        }
        if (p.getRlimitsCount() > 0) {
            ArrayNode r = j.putArray("rlimits");
            for (POSIXRlimit l : p.getRlimitsList()) {
                if (!l.getType().startsWith("RLIMIT_")) {
                    throw AgentException.invalid(where + ".Rlimits type '" + l.getType() + "' is not RLIMIT_*");
                }
                r.addObject().put("type", l.getType()).put("hard", unsigned(l.getHard())).put("soft", unsigned(l.getSoft()));
            }
        }
        if (p.getNoNewPrivileges()) {
            j.put("noNewPrivileges", true);
        }
        if (p.getOOMScoreAdj() != 0) {
            j.put("oomScoreAdj", p.getOOMScoreAdj());
        }
        return j;
    }

    private static long number(String s, String what) {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw AgentException.invalid(what + " '" + s + "' is not a number");
        }
    }

    private static java.math.BigInteger unsigned(long v) {
        return new java.math.BigInteger(Long.toUnsignedString(v));
    }

    private static ObjectNode linux(io.nemu.proto.kata.Linux l, String cgroupsPath, Namespaces ns) {
        ObjectNode j = JSON.objectNode();
        idMaps(j, "uidMappings", l.getUIDMappingsList());
        idMaps(j, "gidMappings", l.getGIDMappingsList());
        Map<String, String> sysctls = new java.util.TreeMap<>(l.getSysctlMap());
        sysctls.keySet().removeIf(OciSpecs::podNetwork);
        if (!sysctls.isEmpty()) {
            ObjectNode s = j.putObject("sysctl");
            sysctls.forEach(s::put);
        }
        if (l.hasResources()) {
            j.set("resources", resources(l.getResources()));
        }
        j.put("cgroupsPath", cgroupsPath);
        j.set("namespaces", namespaces(l, ns));
        if (l.getDevicesCount() > 0) {
            ArrayNode d = j.putArray("devices");
            for (LinuxDevice dev : l.getDevicesList()) {
                if (!dev.getPath().startsWith("/")) {
                    throw AgentException.invalid("OCI.Linux.Devices path '" + dev.getPath() + "' is not absolute");
                }
                ObjectNode o = d.addObject().put("path", dev.getPath()).put("type", dev.getType())
                        .put("major", dev.getMajor()).put("minor", dev.getMinor());
                if (dev.getFileMode() != 0) {
                    o.put("fileMode", dev.getFileMode());
                }
                o.put("uid", dev.getUID()).put("gid", dev.getGID());
            }
        }
        if (l.hasSeccomp() && !l.getSeccomp().getDefaultAction().isEmpty()) {
            j.set("seccomp", seccomp(l.getSeccomp()));
        }
        if (!l.getRootfsPropagation().isEmpty()) {
            j.put("rootfsPropagation", l.getRootfsPropagation());
        }
        strings(j, "maskedPaths", l.getMaskedPathsList());
        strings(j, "readonlyPaths", l.getReadonlyPathsList());
        return j;
    }

    private static final java.util.regex.Pattern SYSCTL = java.util.regex.Pattern.compile("[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)+");

    /**
     * A sysctl of the pod's network namespace, which is the guest's own (containers get no network namespace
     * in the VM): crun refuses net.* without a new one, so the agent writes these to the guest itself.
     */
    static boolean podNetwork(String key) {
        return key.startsWith("net.");
    }

    /** The spec's net.* sysctls, checked: keys must be dotted names (they become /proc/sys paths). */
    static Map<String, String> podNetworkSysctls(io.nemu.proto.kata.Linux l) {
        Map<String, String> out = new java.util.TreeMap<>();
        l.getSysctlMap().forEach((k, v) -> {
            if (podNetwork(k)) {
                if (!SYSCTL.matcher(k).matches()) {
                    throw AgentException.invalid("OCI.Linux.Sysctl key '" + k + "' is not a sysctl name");
                }
                out.put(k, v);
            }
        });
        return out;
    }

    private static ArrayNode namespaces(io.nemu.proto.kata.Linux l, Namespaces ns) {
        ArrayNode a = JSON.arrayNode();
        boolean mnt = false;
        for (var n : l.getNamespacesList()) {
            String type = n.getType();
            switch (type) {
                // Host namespace paths mean nothing in the guest; the pod's network is the VM's.
                case "network", "pid", "ipc", "uts" -> { }
                case "mount", "cgroup", "user" -> {
                    mnt |= type.equals("mount");
                    a.addObject().put("type", type);
                }
                default -> throw AgentException.invalid("OCI.Linux.Namespaces: unknown type '" + type + "'");
            }
        }
        if (!mnt) {
            a.addObject().put("type", "mount");
        }
        ns(a, "pid", ns.pidPath());
        ns(a, "ipc", ns.ipcPath());
        ns(a, "uts", ns.utsPath());
        return a;
    }

    private static void ns(ArrayNode a, String type, String path) {
        if (Namespaces.GUEST.equals(path)) {
            return;
        }
        ObjectNode o = a.addObject().put("type", type);
        if (path != null) {
            o.put("path", path);
        }
    }

    static ObjectNode resources(LinuxResources r) {
        ObjectNode j = JSON.objectNode();
        if (r.getDevicesCount() > 0) {
            ArrayNode d = j.putArray("devices");
            for (LinuxDeviceCgroup dc : r.getDevicesList()) {
                ObjectNode o = d.addObject().put("allow", dc.getAllow());
                if (!dc.getType().isEmpty()) {
                    o.put("type", dc.getType());
                }
                if (dc.getMajor() >= 0 && !(dc.getMajor() == 0 && dc.getMinor() == 0 && dc.getType().isEmpty())) {
                    o.put("major", dc.getMajor());
                }
                if (dc.getMinor() >= 0 && o.has("major")) {
                    o.put("minor", dc.getMinor());
                }
                if (!dc.getAccess().isEmpty()) {
                    o.put("access", dc.getAccess());
                }
            }
        }
        if (r.hasMemory()) {
            LinuxMemory m = r.getMemory();
            ObjectNode o = JSON.objectNode();
            putNonZero(o, "limit", m.getLimit());
            putNonZero(o, "reservation", m.getReservation());
            putNonZero(o, "swap", m.getSwap());
            putNonZero(o, "kernel", m.getKernel());
            putNonZero(o, "kernelTCP", m.getKernelTCP());
            putNonZero(o, "swappiness", m.getSwappiness());
            if (m.getDisableOOMKiller()) {
                o.put("disableOOMKiller", true);
            }
            if (m.getLimit() < -1) {
                throw AgentException.invalid("Resources.Memory.Limit " + m.getLimit() + " is negative");
            }
            j.set("memory", o);
        }
        if (r.hasCPU()) {
            LinuxCPU c = r.getCPU();
            ObjectNode o = JSON.objectNode();
            putNonZero(o, "shares", c.getShares());
            putNonZero(o, "quota", c.getQuota());
            putNonZero(o, "period", c.getPeriod());
            putNonZero(o, "realtimeRuntime", c.getRealtimeRuntime());
            putNonZero(o, "realtimePeriod", c.getRealtimePeriod());
            if (!c.getCpus().isEmpty()) {
                o.put("cpus", c.getCpus());
            }
            if (!c.getMems().isEmpty()) {
                o.put("mems", c.getMems());
            }
            j.set("cpu", o);
        }
        if (r.hasPids() && r.getPids().getLimit() != 0) {
            j.putObject("pids").put("limit", r.getPids().getLimit());
        }
        if (r.hasBlockIO()) {
            LinuxBlockIO b = r.getBlockIO();
            ObjectNode o = JSON.objectNode();
            putNonZero(o, "weight", b.getWeight());
            putNonZero(o, "leafWeight", b.getLeafWeight());
            if (b.getWeightDeviceCount() > 0) {
                ArrayNode a = o.putArray("weightDevice");
                for (LinuxWeightDevice w : b.getWeightDeviceList()) {
                    ObjectNode e = a.addObject().put("major", w.getMajor()).put("minor", w.getMinor());
                    putNonZero(e, "weight", w.getWeight());
                    putNonZero(e, "leafWeight", w.getLeafWeight());
                }
            }
            throttle(o, "throttleReadBpsDevice", b.getThrottleReadBpsDeviceList());
            throttle(o, "throttleWriteBpsDevice", b.getThrottleWriteBpsDeviceList());
            throttle(o, "throttleReadIOPSDevice", b.getThrottleReadIOPSDeviceList());
            throttle(o, "throttleWriteIOPSDevice", b.getThrottleWriteIOPSDeviceList());
            j.set("blockIO", o);
        }
        if (r.getHugepageLimitsCount() > 0) {
            ArrayNode a = j.putArray("hugepageLimits");
            for (LinuxHugepageLimit h : r.getHugepageLimitsList()) {
                a.addObject().put("pageSize", h.getPagesize()).put("limit", unsigned(h.getLimit()));
            }
        }
        if (r.hasNetwork()) {
            ObjectNode o = j.putObject("network");
            putNonZero(o, "classID", r.getNetwork().getClassID());
            if (r.getNetwork().getPrioritiesCount() > 0) {
                ArrayNode a = o.putArray("priorities");
                r.getNetwork().getPrioritiesList().forEach(p -> a.addObject().put("name", p.getName())
                        .put("priority", p.getPriority()));
            }
        }
        return j;
    }

    private static void throttle(ObjectNode o, String name, List<LinuxThrottleDevice> list) {
        if (!list.isEmpty()) {
            ArrayNode a = o.putArray(name);
            list.forEach(t -> a.addObject().put("major", t.getMajor()).put("minor", t.getMinor())
                    .put("rate", unsigned(t.getRate())));
        }
    }

    private static ObjectNode seccomp(LinuxSeccomp s) {
        ObjectNode j = JSON.objectNode();
        j.put("defaultAction", s.getDefaultAction());
        strings(j, "architectures", s.getArchitecturesList());
        strings(j, "flags", s.getFlagsList());
        ArrayNode calls = j.putArray("syscalls");
        for (LinuxSyscall sc : s.getSyscallsList()) {
            ObjectNode o = calls.addObject();
            strings(o, "names", sc.getNamesList());
            o.put("action", sc.getAction());
            if (sc.hasErrnoret()) {
                o.put("errnoRet", sc.getErrnoret());
            }
            if (sc.getArgsCount() > 0) {
                ArrayNode args = o.putArray("args");
                for (LinuxSeccompArg a : sc.getArgsList()) {
                    args.addObject().put("index", a.getIndex()).put("value", unsigned(a.getValue()))
                            .put("valueTwo", unsigned(a.getValueTwo())).put("op", a.getOp());
                }
            }
        }
        return j;
    }

    private static void idMaps(ObjectNode j, String name, List<LinuxIDMapping> maps) {
        if (!maps.isEmpty()) {
            ArrayNode a = j.putArray(name);
            maps.forEach(m -> a.addObject().put("containerID", m.getContainerID()).put("hostID", m.getHostID())
                    .put("size", m.getSize()));
        }
    }

    private static void putNonZero(ObjectNode o, String name, long v) {
        if (v != 0) {
            o.put(name, v);
        }
    }

    private static void strings(ObjectNode o, String name, List<String> values) {
        if (!values.isEmpty()) {
            ArrayNode a = o.putArray(name);
            values.forEach(a::add);
        }
    }

}
