package io.nemu.agent.oci;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nemu.agent.AgentException;
import io.nemu.proto.kata.LinuxDevice;
import io.nemu.proto.kata.LinuxIDMapping;
import io.nemu.proto.kata.LinuxSeccomp;
import io.nemu.proto.kata.LinuxSeccompArg;
import io.nemu.proto.kata.LinuxSyscall;
import io.nemu.proto.kata.Mount;
import io.nemu.proto.kata.Spec;
import io.nemu.proto.kata.StringUser;
import java.util.List;
import java.util.Map;

/**
 * The Kata protobuf OCI spec turned into the OCI runtime JSON that crun reads. Zero values of
 * the protobuf stand for "unset" and are left out, as the JSON spec has no zeros for them.
 */
public final class OciSpecs {
    private OciSpecs() {}

    /**
     * The pid, ipc and uts namespaces of a container, which the agent decides on: {@code null} means a new
     * one, {@link #GUEST} none (the container stays in the guest's own, as a host namespace under runc),
     * anything else the path of the namespace to join.
     */
    public record Namespaces(String pidPath, String ipcPath, String utsPath) {
        public static final String GUEST = "";

        /**
         * From the spec's entries, as CRI writes them: an entry with a path joins the pod's namespace (the
         * host path, e.g. /proc/QEMU-PID/ns/ipc, means nothing in the guest: {@code podBase} + type stands
         * for it; with no pod yet it is a new one), an entry without a path is a new namespace, no entry is
         * the guest's (hostPID/hostIPC). {@code podPid} joins the pod's pid namespace whenever there is an
         * entry (the sandbox asked for one shared pid namespace).
         */
        public static Namespaces resolve(io.nemu.proto.kata.Linux l, String podBase, boolean podPid) {
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

    public static ObjectNode config(Spec spec, String rootPath, String cgroupsPath, Namespaces ns, StringUser user) {
        ObjectNode c = OciJson.JSON.objectNode();
        c.put("ociVersion", spec.getVersion().isEmpty() ? "1.0.2" : spec.getVersion());
        if (!spec.hasProcess()) {
            throw AgentException.invalid("OCI.Process is missing");
        }
        c.set("process", OciProcess.process(spec.getProcess(), user, "OCI.Process"));
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
            OciJson.strings(j, "options", m.getOptionsList());
        }
        if (!spec.getAnnotationsMap().isEmpty()) {
            ObjectNode a = c.putObject("annotations");
            spec.getAnnotationsMap().forEach(a::put);
        }
        // Host hooks name host binaries; the guest cannot run them (Kata drops them too).
        c.set("linux", linux(spec.getLinux(), cgroupsPath, ns));
        return c;
    }

    private static ObjectNode linux(io.nemu.proto.kata.Linux l, String cgroupsPath, Namespaces ns) {
        ObjectNode j = OciJson.JSON.objectNode();
        idMaps(j, "uidMappings", l.getUIDMappingsList());
        idMaps(j, "gidMappings", l.getGIDMappingsList());
        Map<String, String> sysctls = new java.util.TreeMap<>(l.getSysctlMap());
        sysctls.keySet().removeIf(OciSpecs::podNetwork);
        if (!sysctls.isEmpty()) {
            ObjectNode s = j.putObject("sysctl");
            sysctls.forEach(s::put);
        }
        if (l.hasResources()) {
            j.set("resources", OciResources.resources(l.getResources()));
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
        OciJson.strings(j, "maskedPaths", l.getMaskedPathsList());
        OciJson.strings(j, "readonlyPaths", l.getReadonlyPathsList());
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
    public static Map<String, String> podNetworkSysctls(io.nemu.proto.kata.Linux l) {
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
        ArrayNode a = OciJson.JSON.arrayNode();
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

    private static ObjectNode seccomp(LinuxSeccomp s) {
        ObjectNode j = OciJson.JSON.objectNode();
        j.put("defaultAction", s.getDefaultAction());
        OciJson.strings(j, "architectures", s.getArchitecturesList());
        OciJson.strings(j, "flags", s.getFlagsList());
        ArrayNode calls = j.putArray("syscalls");
        for (LinuxSyscall sc : s.getSyscallsList()) {
            ObjectNode o = calls.addObject();
            OciJson.strings(o, "names", sc.getNamesList());
            o.put("action", sc.getAction());
            if (sc.hasErrnoret()) {
                o.put("errnoRet", sc.getErrnoret());
            }
            if (sc.getArgsCount() > 0) {
                ArrayNode args = o.putArray("args");
                for (LinuxSeccompArg a : sc.getArgsList()) {
                    args.addObject().put("index", a.getIndex()).put("value", OciJson.unsigned(a.getValue()))
                            .put("valueTwo", OciJson.unsigned(a.getValueTwo())).put("op", a.getOp());
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
}
