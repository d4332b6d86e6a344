"""The canonical tool vocabulary: one id per remote-access tool, with the names vendors and hosts use for it.

Tool and process names are normalised once, at decode (`normalise_name`), then mapped to
a canonical id (`canonical_tool`). Detectors only ever see canonical ids. The list is the
project's own, written from vendor documentation and public incident reporting; the
LOLRMM catalogue is used by a test as an outside reference, not copied here.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple


class Tool(NamedTuple):
    category: str  # rmm | remote_desktop | vdi | mouse_jiggler | tunnel
    title: str
    aliases: tuple[str, ...]


# Categories: "rmm" = third-party remote control / remote monitoring & management (ATT&CK
# T1219); "remote_desktop" = built-in OS remote desktop protocols; "tunnel" = reverse
# tunnels that expose a desktop; "mouse_jiggler" = keeps a session "active" for an absent
# or remote operator (software or USB device drivers).
TOOLS: Final[dict[str, Tool]] = {
    "anydesk": Tool("rmm", "AnyDesk", ("anydesk", "anydesk_service", "anydeskmsi")),
    "teamviewer": Tool("rmm", "TeamViewer", ("teamviewer", "teamviewer_service", "tv_w32", "tv_x64", "teamviewerqs", "teamviewer_desktop", "teamviewerd",
                                          "teamviewerhost")),
    "chrome_remote_desktop": Tool("rmm", "Chrome Remote Desktop", ("chrome_remote_desktop", "remoting_host", "remoting_desktop", "remoting_native_messaging_host", "chrome-remote-desktop-host", "crd")),
    "rustdesk": Tool("rmm", "RustDesk", ("rustdesk",)),
    "splashtop": Tool("rmm", "Splashtop", ("splashtop", "srservice", "srmanager", "srapp", "strwinclt", "splashtop streamer",
                                      "srserver", "sragent", "splashtopsos")),
    "screenconnect": Tool("rmm", "ConnectWise ScreenConnect", ("screenconnect", "screenconnect.clientservice", "screenconnect.windowsclient", "connectwisecontrol", "connectwise control")),
    "logmein": Tool("rmm", "LogMeIn / GoTo Resolve", ("logmein", "lmiguardiansvc", "logmeinsystray", "lmi_rescue", "gotoassist", "goto resolve", "gotoresolve", "g2ax_comm_expert",
                                                "gotoresolveservice", "gotoresolveremotecontrol", "gotoresolveunattended",
                                                "gotoresolveui", "gotoresolveprocesschecker")),
    "zoho_assist": Tool("rmm", "Zoho Assist", ("zohoassist", "zaservice", "zohomeeting", "zoho assist")),
    "beyondtrust": Tool("rmm", "BeyondTrust Remote Support (Bomgar)", ("bomgar-scc", "bomgar", "beyondtrust", "bomgar-rdp")),
    "atera": Tool("rmm", "Atera", ("ateraagent", "atera", "atera agent")),
    "ninjaone": Tool("rmm", "NinjaOne", ("ninjarmmagent", "ninjaone", "ninjarmm")),
    "kaseya": Tool("rmm", "Kaseya VSA", ("agentmon", "kaseya", "kaseyaremotecontrolhost")),
    "nable": Tool("rmm", "N-able Take Control", ("basupsrvc", "basupsrvcupdater", "n-able", "take control", "mspagent")),
    "remotepc": Tool("rmm", "RemotePC", ("remotepc", "remotepcservice", "rpcsuite")),
    "parsec": Tool("rmm", "Parsec", ("parsec", "parsecd", "pservice")),
    "ammyy": Tool("rmm", "Ammyy Admin", ("ammyy", "aa_v3", "ammyy_admin")),
    "radmin": Tool("rmm", "Radmin", ("radmin", "rserver3", "radmin viewer")),
    "ultravnc": Tool("rmm", "UltraVNC", ("ultravnc", "winvnc", "uvnc_service")),
    "tightvnc": Tool("rmm", "TightVNC", ("tightvnc", "tvnserver", "tvnviewer")),
    "realvnc": Tool("rmm", "RealVNC", ("realvnc", "vncserver", "vncviewer", "vncserver-x11", "vncagent", "winvnc4", "vncserverui")),
    "tigervnc": Tool("rmm", "TigerVNC", ("tigervnc", "x0vncserver", "xtigervnc")),
    "nomachine": Tool("rmm", "NoMachine", ("nomachine", "nxserver", "nxnode", "nxplayer")),
    "dwservice": Tool("rmm", "DWService", ("dwagent", "dwservice", "dwagsvc")),
    "supremo": Tool("rmm", "Supremo", ("supremo", "supremoservice", "supremosystem")),
    "aeroadmin": Tool("rmm", "AeroAdmin", ("aeroadmin",)),
    "remote_utilities": Tool("rmm", "Remote Utilities", ("rutserv", "rfusclient", "remote utilities")),
    "meshcentral": Tool("rmm", "MeshCentral", ("meshagent", "meshcentral")),
    "tactical_rmm": Tool("rmm", "Tactical RMM", ("tacticalrmm", "tacticalagent")),
    "action1": Tool("rmm", "Action1", ("action1_agent", "action1", "action1_remote", "action1_connector")),
    "simplehelp": Tool("rmm", "SimpleHelp", ("simplehelp", "simplegatewayservice", "remote access service")),
    "ultraviewer": Tool("rmm", "UltraViewer", ("ultraviewer", "ultraviewer_service", "ultraviewer_desktop")),
    "todesk": Tool("rmm", "ToDesk", ("todesk", "todesk_service")),
    "sunlogin": Tool("rmm", "Sunlogin (Oray)", ("sunloginclient", "sunlogin", "oray_sunlogin", "slservice")),
    "jump_desktop": Tool("rmm", "Jump Desktop", ("jumpdesktop", "jump desktop", "jumpconnect")),
    "quick_assist": Tool("rmm", "Microsoft Quick Assist", ("quickassist", "quick assist")),
    "getscreen": Tool("rmm", "Getscreen.me", ("getscreen",)),
    "hoptodesk": Tool("rmm", "HopToDesk", ("hoptodesk", "hoptodesk-standalone")),
    "netsupport": Tool("rmm", "NetSupport Manager", ("client32", "pcictlui", "pcicfgui", "remcmdstub", "netsupport")),
    "isl_online": Tool("rmm", "ISL Online", ("isllight", "isllightclient", "isllightservice", "islalwaysonmonitor")),
    "level": Tool("rmm", "Level", ("level-windows-amd64", "level-remote-control-ffmpeg")),
    "pulseway": Tool("rmm", "Pulseway", ("pcmonitorsrv", "pcmonitormanager", "pulseway")),
    "syncro": Tool("rmm", "Syncro", ("syncro.service", "syncro.app.runner", "syncro.overmind.service", "syncrolive.agent",
                                     "kabuto.service.runner")),
    "connectwise_automate": Tool("rmm", "ConnectWise Automate", ("ltsvc", "ltsvcmon", "lttray")),
    "datto_rmm": Tool("rmm", "Datto RMM", ("aemagent", "cagservice")),
    "dameware": Tool("rmm", "DameWare", ("dwrcs", "dwrcst", "dntus", "dameware")),
    "remotely": Tool("rmm", "Remotely", ("remotely_agent", "remotely_desktop")),
    "anyviewer": Tool("rmm", "AnyViewer", ("anyviewer",)),
    "litemanager": Tool("rmm", "LiteManager", ("romserver", "romviewer", "romfusclient", "lmnoipserver")),
    "itarian": Tool("rmm", "Itarian / Comodo Remote Control", ("itsmagent", "itsmservice", "rviewer", "rhost",
                                                               "comodoremotecontrol")),
    "parallels_access": Tool("rmm", "Parallels Access", ("prl_deskctl_agent", "parallelsaccess")),
    "manageengine": Tool("rmm", "ManageEngine Endpoint Central", ("dcagentservice",)),
    "mikogo": Tool("rmm", "Mikogo", ("mikogo", "mikogo-service")),
    "showmypc": Tool("rmm", "ShowMyPC", ("showmypc",)),
    "iperius_remote": Tool("rmm", "Iperius Remote", ("iperiusremote",)),
    "awesun": Tool("rmm", "AweSun", ("awesun", "aweray_remote")),
    "gotohttp": Tool("rmm", "GotoHTTP", ("gotohttp", "gotohttp_x64")),
    "rudesktop": Tool("rmm", "RuDesktop", ("rudesktop",)),
    "fleetdeck": Tool("rmm", "FleetDeck", ("fleetdeck_agent", "fleetdeck_agent_svc")),
    "helpwire": Tool("rmm", "HelpWire", ("helpwire",)),
    "distant_desktop": Tool("rmm", "Distant Desktop", ("distant-desktop", "ddsystem")),
    "rdp": Tool("remote_desktop", "Microsoft Remote Desktop (RDP)", ("rdp", "mstsc", "termsrv", "rdpclip", "microsoft remote desktop", "remote desktop")),
    "apple_screen_sharing": Tool("remote_desktop", "Apple Screen Sharing / Remote Desktop", ("screensharingd", "screen sharing", "ardagent", "apple remote desktop")),
    "ssh": Tool("remote_desktop", "SSH", ("ssh", "sshd", "openssh")),
    "guacamole": Tool("vdi", "Apache Guacamole", ("guacamole", "guacd")),
    "citrix": Tool("vdi", "Citrix Workspace", ("citrix", "wfica32", "receiver", "citrix workspace")),
    "ngrok": Tool("tunnel", "ngrok", ("ngrok",)),
    "cloudflared": Tool("tunnel", "Cloudflare Tunnel", ("cloudflared",)),
    "tmate": Tool("tunnel", "tmate (shared terminal)", ("tmate",)),
    "localxpose": Tool("tunnel", "LocalXpose", ("loclx",)),
    "remoteit": Tool("tunnel", "Remote.It", ("remoteit", "remoteit-agent")),
    "xpra": Tool("remote_desktop", "Xpra", ("xpra",)),
    "x2go": Tool("remote_desktop", "X2Go", ("x2goclient", "x2goagent")),
    "move_mouse": Tool("mouse_jiggler", "Move Mouse", ("move mouse", "movemouse", "ellanet.movemouse")),
    "mouse_jiggler": Tool("mouse_jiggler", "Mouse Jiggler", ("mousejiggler", "mouse jiggler", "jiggler", "mouse_jiggle")),
    "caffeine": Tool("mouse_jiggler", "Caffeine", ("caffeine", "caffeine64")),
}

# Suffixes that name the same program on another platform; stripped so AnyDesk.exe = anydesk.
_PLATFORM_SUFFIXES: Final = (".exe", ".app", ".msi", ".dmg", ".pkg", ".appimage", ".bin", ".sh", ".deb", ".rpm", ".scr", ".com", ".lnk")
_PATH_SEPARATORS = re.compile(r"[\\/]")

_ALIAS_TO_ID: Final[dict[str, str]] = {}  # filled below, once normalise_name exists


def normalise_name(name: str) -> str:
    """Lower-case a tool or process name and strip its directory and platform suffixes.

    Idempotent: normalising a normalised name changes nothing.

    >>> normalise_name(r"C:\\Program Files\\AnyDesk\\AnyDesk.exe")
    'anydesk'
    >>> normalise_name("  TeamViewer.app "), normalise_name("Setup .exe"), normalise_name("a.exe.exe")
    ('teamviewer', 'setup', 'a')
    """
    name = _PATH_SEPARATORS.split(name.strip())[-1].strip().lower()
    stripped = True
    while stripped:
        stripped = False
        for suffix in _PLATFORM_SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)].rstrip()
                stripped = True
                break
    return name


# Vendor logs use display names too ("Chrome Remote Desktop"), so titles are aliases as well.
for _tool_id, _tool in TOOLS.items():
    for _alias in (_tool_id, *_tool.aliases, _tool.title):
        _ALIAS_TO_ID.setdefault(normalise_name(_alias), _tool_id)


def canonical_tool(name: str) -> str:
    """The canonical id for a tool or process name; unknown names come back normalised.

    >>> canonical_tool("TeamViewer_Service.exe")
    'teamviewer'
    >>> canonical_tool("Code.exe")
    'code'
    """
    normalised = normalise_name(name)
    return _ALIAS_TO_ID.get(normalised, normalised)


def tool_category(tool_id: str) -> str | None:
    """The category of a canonical tool id, or None for names outside the vocabulary.

    >>> tool_category("anydesk"), tool_category("slack")
    ('rmm', None)
    """
    tool = TOOLS.get(tool_id)
    return tool.category if tool else None
