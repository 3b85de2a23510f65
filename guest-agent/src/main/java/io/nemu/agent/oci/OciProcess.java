package io.nemu.agent.oci;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nemu.agent.AgentException;
import io.nemu.proto.kata.Box;
import io.nemu.proto.kata.LinuxCapabilities;
import io.nemu.proto.kata.POSIXRlimit;
import io.nemu.proto.kata.Process;
import io.nemu.proto.kata.StringUser;
import java.util.List;

/** A Kata {@code Process} (of a container's spec or of an exec) as the OCI process JSON crun reads. */
public final class OciProcess {
    private OciProcess() {}

    /** Checks and converts; errors name the field below {@code where} ("OCI.Process", "process"). */
    public static ObjectNode process(Process p, StringUser stringUser, String where) {
        if (p.getArgsCount() == 0 || p.getArgs(0).isEmpty()) {
            throw AgentException.invalid(where + ".Args is empty");
        }
        String cwd = p.getCwd().isEmpty() ? "/" : p.getCwd();
        if (!cwd.startsWith("/")) {
            throw AgentException.invalid(where + ".Cwd must be an absolute path, got '" + cwd + "'");
        }
        ObjectNode j = OciJson.JSON.objectNode();
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
        OciJson.strings(j, "args", p.getArgsList());
        List<String> env = p.getEnvList();
        for (String e : env) {
            if (!e.contains("=")) {
                throw AgentException.invalid(where + ".Env entry '" + e + "' is not NAME=VALUE");
            }
        }
        OciJson.strings(j, "env", env);
        j.put("cwd", cwd);
        if (p.hasCapabilities()) {
            LinuxCapabilities caps = p.getCapabilities();
            ObjectNode cj = j.putObject("capabilities");
            OciJson.strings(cj, "bounding", caps.getBoundingList());
            OciJson.strings(cj, "effective", caps.getEffectiveList());
            OciJson.strings(cj, "inheritable", caps.getInheritableList());
            OciJson.strings(cj, "permitted", caps.getPermittedList());
            OciJson.strings(cj, "ambient", caps.getAmbientList());
        }
        if (p.getRlimitsCount() > 0) {
            ArrayNode r = j.putArray("rlimits");
            for (POSIXRlimit l : p.getRlimitsList()) {
                if (!l.getType().startsWith("RLIMIT_")) {
                    throw AgentException.invalid(where + ".Rlimits type '" + l.getType() + "' is not RLIMIT_*");
                }
                r.addObject().put("type", l.getType()).put("hard", OciJson.unsigned(l.getHard())).put("soft", OciJson.unsigned(l.getSoft()));
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
}
