"""Chat: a pygame chat window, written in pygnetic's *pygame-events style*.

One player hosts (their window also runs the server); the others join:

    python examples/chat.py --host-game                      # host on port 10000
    python examples/chat.py --join                           # join the first LAN chat found
    python examples/chat.py --join --host 192.168.1.20       # join that host
    python examples/chat.py --host-game --websocket          # browsers may join too

With ``--websocket`` (``python -m pip install ".[websocket]"``) the host also serves
WebSocket on the same port, and a browser tab joins the chat through
``examples/web/chat.html`` (see examples/README.md): same messages, same server.

Type a nickname and press Enter, then chat. The mouse wheel scrolls back. A
host announces its chat on the local network (pygnetic.discovery); the
"LAN games" panel of everyone else lists the chats it hears: click one to join.
A player whose connection drops for a while (up to 30 s) comes back under the
same nickname: the host keeps the player's session (reconnect_grace).

How the networking fits into a pygame loop:

* ``pygnetic.init(events=True)`` makes network activity arrive as pygame events
  of type ``event.NETWORK``, from the same ``pygame.event.get()`` as keys and
  mouse clicks. ``e.net_type`` says what happened (connected, received, ...).
* ``client.update()`` (and ``server.update()`` on the host), once per frame, do
  the sending and receiving; that is when those events are posted.
* The host's server is a tiny ``Relay`` handler instead, created with
  ``events=False``, so the host's server traffic and its own player's traffic
  never mix in one event queue.

With ``--state HOST[:PORT]`` the window shows a message of the day, read
from a state service (``python -m pygnetic.state``): the key ``motd`` of the
application ``pygnetic-examples+chat``, which its admin writes (see
docs/examples.rst). It is read with ``get_nowait(..., event=True)``, so the
answer comes as a ``NET_STATE_REQUEST`` event from the same
``pygame.event.get()``, and the chat never waits for it.

``--selftest FRAMES`` lets a bot type for at least FRAMES frames; it exits 0
with ``selftest ok: sent=N received=M`` once it has chatted with another player
(the host also waits for its guests to leave), or 1 if that never happened.
``--screenshot FILE`` saves the window when the program ends.
"""

from __future__ import annotations

import argparse
import itertools

import pygame

import pygnetic
import pygnetic.event as event  # not `from ... import NETWORK`: init() sets its value
from pygnetic.discovery import BROADCAST, DISCOVERY_PORT, Announcer, Browser
from pygnetic.state import DistributedState, NoSuchKeyError

DEFAULT_PORT = 10000
GAME = "pygnetic-chat"  # what LAN announcements call this game
WIDTH, HEIGHT, PANEL = 800, 480, 250  # window size, and the width of the side panel
FPS = 60
MAX_TEXT = 120  # longest line a player may send
RECONNECT_GRACE = 30  # seconds the host keeps a lost player's nick for them
MOTD_APP = "pygnetic-examples+chat"  # the state service's application holding "motd"
BACKGROUND, BOX, TEXT = (24, 26, 33), (40, 44, 56), (230, 230, 230)
DIM, MINE, NOTE = (140, 145, 160), (120, 200, 255), (250, 200, 90)  # NOTE: joins and leaves

# Every program in a game registers the same messages, in the same order.
hello = pygnetic.register("hello", ("nick",))  # player -> host: my nickname
say = pygnetic.register("say", ("text",))  # player -> host: a line I typed
line = pygnetic.register("line", ("nick", "text"))  # host -> players: someone said this
notice = pygnetic.register("notice", ("text",))  # host -> players: someone joined or left


class Relay(pygnetic.Handler):
    """Host side: the server makes one Relay per player, and calls it inside server.update()."""

    nick = ""

    def tell_everyone(self, text):
        for connection in self.server.connections():
            connection.net_notice(text)

    def net_hello(self, message, **kwargs):
        self.nick = str(message.nick)[:20]  # never trust what arrives: cut it to size
        self.tell_everyone(f"{self.nick} joined")

    def net_say(self, message, **kwargs):
        for connection in self.server.connections(exclude=self.connection):
            connection.net_line(self.nick or "?", str(message.text)[:MAX_TEXT])

    def on_reconnecting(self, reason):
        # The link was lost; this handler, and the nick in it, wait for the player.
        if self.nick:
            self.tell_everyone(f"{self.nick} lost connection...")

    def on_reconnect(self):
        if self.nick:
            self.tell_everyone(f"{self.nick} is back")

    def on_disconnect(self):
        if self.nick:
            self.tell_everyone(f"{self.nick} left")


class LanGames:
    """The LAN games panel: the host announces its chat, everyone else lists those heard.

    An Announcer sends one small UDP broadcast a second describing the server;
    a Browser listens for them. Both are pumped once per frame, like update().
    """

    def __init__(self, server, lan_port, lan_target):
        self.announcer = self.browser = None
        self.rows = []  # (rectangle on screen, ServerInfo) of the games drawn, for clicks
        if server:
            self.announcer = Announcer(server, "a chat", game=GAME, target=(lan_target, lan_port))
        else:
            self.browser = Browser(lan_port, game=GAME)  # only chats, not other games

    def update(self):
        (self.announcer or self.browser).update()

    def games(self):
        return self.browser.servers if self.browser else []

    def name_host(self, nick):
        if self.announcer:
            self.announcer.name = f"{nick}'s chat"  # the next announcement says so

    def draw(self, screen, font, rect):
        screen.blit(font.render("LAN games to join", True, TEXT), (rect.x, rect.y))
        if self.announcer:
            rows = [f'announcing "{self.announcer.name}"']
        else:
            rows = [f"{g.name} ({g.players}/{g.max_players})" for g in self.games()]
        self.rows = []
        for number, text in enumerate(rows or ["(none found yet)"]):
            where = screen.blit(font.render(text, True, DIM), (rect.x, rect.y + 26 + 22 * number))
            if self.browser and rows:
                self.rows.append((where, self.games()[number]))

    def clicked(self, position):
        """Return the game whose row is at ``position`` on screen, if any."""
        return next((game for where, game in self.rows if where.collidepoint(position)), None)

    def close(self):
        (self.announcer or self.browser).close()  # an announcer says goodbye to browsers


class ChatWindow:
    """What the player sees: the message list, the text box and the side panel."""

    def __init__(self, screen, nick, status, lan):
        self.screen, self.nick, self.status, self.lan = screen, nick, status, lan
        self.font = pygame.font.Font(None, 24)  # pygame's built-in font
        self.rows = []  # (text, colour), already wrapped to the list's width
        self.scroll = 0  # how many rows the player has scrolled back
        self.typed = ""
        self.said = self.heard = 0  # lines sent, and lines received from others

    def add(self, text, colour=TEXT):
        words, row = text.split(" "), ""
        for word in words:  # wrap: as many words per row as fit
            if row and self.font.size(f"{row} {word}")[0] > WIDTH - PANEL - 30:
                self.rows.append((row, colour))
                row = word
            else:
                row = f"{row} {word}" if row else word
        self.rows.append((row, colour))

    def draw(self, rtt):
        screen, font = self.screen, self.font
        screen.fill(BACKGROUND)
        height = font.get_linesize()
        visible = (HEIGHT - 70) // height
        end = len(self.rows) - self.scroll
        for number, (text, colour) in enumerate(self.rows[max(0, end - visible) : end]):
            screen.blit(font.render(text, True, colour), (15, 15 + number * height))
        box = pygame.Rect(10, HEIGHT - 45, WIDTH - PANEL - 20, 35)
        pygame.draw.rect(screen, BOX, box, border_radius=6)
        prompt = "" if self.nick else "Your nickname: "
        cursor = "_" if pygame.time.get_ticks() // 500 % 2 else " "
        screen.blit(font.render(prompt + self.typed + cursor, True, TEXT), (20, HEIGHT - 36))
        panel = pygame.Rect(WIDTH - PANEL, 0, PANEL, HEIGHT)
        pygame.draw.rect(screen, BOX, panel)
        info = [self.status, f"you: {self.nick or '?'}", f"round trip: {rtt}"]
        for number, text in enumerate(info):
            screen.blit(font.render(text, True, DIM), (panel.x + 12, 15 + 22 * number))
        self.lan.draw(screen, font, pygame.Rect(panel.x + 12, 110, PANEL - 24, HEIGHT - 120))


class MessageOfTheDay:
    """Reads the message of the day from a state service (--state), without ever waiting."""

    def __init__(self, address, window):
        self.window = window
        self.state = DistributedState(address, blocking=False)  # connects in the background
        self.joining = self.state.join_nowait(MOTD_APP, event=True)
        self.reading = None

    def on_request(self, request):
        """A NET_STATE_REQUEST event: one of our two requests is done."""
        if request is self.joining and request.error is None:
            self.reading = self.state.get_nowait("motd", event=True)
            return
        if request.error is None:
            text = f"message of the day: {request.result()}"
        elif isinstance(request.error, NoSuchKeyError):
            return  # the admin has written none
        else:
            text = f"no message of the day: {request.error}"
        print(text, flush=True)
        self.window.add(f"* {text}", NOTE)


def on_network(e, window):
    """Handle one pygame event of type event.NETWORK, for our client connection."""
    if e.net_type == event.NET_CONNECTED:
        window.add("* connected", NOTE)
    elif e.net_type == event.NET_DISCONNECTED:
        window.add(f"* disconnected: {e.reason}", NOTE)
    elif e.net_type == event.NET_RECONNECTING:
        window.add(f"* connection lost ({e.reason}); reconnecting...", NOTE)
    elif e.net_type == event.NET_RECONNECTED:
        window.add(f"* reconnected as {window.nick}", NOTE)
    elif e.net_type == event.NET_RECEIVED and e.msg_type == line:
        window.heard += 1
        window.add(f"<{e.message.nick}> {e.message.text}")
    elif e.net_type == event.NET_RECEIVED and e.msg_type == notice:
        window.add(f"* {e.message.text}", NOTE)
    elif e.net_type == event.NET_SERVER_FOUND:  # posted by the LAN Browser
        window.add(f"* found {e.server.name} on the LAN", NOTE)


def on_enter(window, connection):
    """The player pressed Enter: the text is their nickname, or a line to send."""
    text, window.typed = window.typed.strip(), ""
    if not text:
        return
    if not window.nick:
        window.nick = text[:20]
        window.lan.name_host(window.nick)
        if connection:
            connection.net_hello(window.nick)  # queued if we are still connecting
    elif connection and connection.net_say(text):  # False when the connection has closed
        window.said += 1
        window.add(f"<{window.nick}> {text}", MINE)
    else:
        window.add("* not sent: not connected", NOTE)


HOST_LINES = ["hi, welcome to my game!", "arena starts in a minute", "arrow keys move", "go!"]
GUEST_LINES = ["hey! thanks for hosting", "ready when you are", "got it", "gg"]


def bot(nick, phrases):
    """Self-test player: yield, frame by frame, the events a person typing would make."""
    for text in itertools.chain([nick] if nick else [], itertools.cycle(phrases)):
        for char in text:
            yield [pygame.event.Event(pygame.TEXTINPUT, text=char)]
            yield []  # a key every other frame
        yield [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RETURN, mod=0, unicode="\r")]
        yield from [[]] * 20


def join(client, window, connection, game):
    """Leave the chat we are in, if any, and join ``game`` (a ServerInfo from the LAN)."""
    if connection is not None:
        if connection.address[1] == game.port and connection.connected:
            return connection  # already there
        connection.disconnect("switching chats")
    print(f"joining {game.name!r} at {game.host}:{game.port}", flush=True)
    window.status = f"joined {game.host}:{game.port}"
    window.add(f"* joining {game.name} at {game.host}:{game.port}", NOTE)
    connection = client.connect(*game.address)
    if window.nick:
        connection.net_hello(window.nick)
    return connection


def parse_args(argv):
    parser = argparse.ArgumentParser(description="pygnetic chat (pygame events style)")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--host-game", action="store_true", help="run the server here, and chat")
    mode.add_argument("--join", action="store_true", help="join the chat hosted at --host")
    parser.add_argument("--host", help="address to join, or to listen on when hosting")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0: any free port")
    parser.add_argument(
        "--adapter", choices=["enet", "socket"], help="default: both (ENet when installed)"
    )
    parser.add_argument(
        "--websocket", action="store_true", help="also serve browsers (examples/web/chat.html)"
    )
    parser.add_argument("--nick", help="nickname (else the window asks)")
    parser.add_argument("--lan-port", type=int, default=DISCOVERY_PORT, help="LAN discovery port")
    parser.add_argument("--lan-target", default=BROADCAST, help="where the host announces")
    parser.add_argument("--state", metavar="HOST[:PORT]", help="state service: message of the day")
    parser.add_argument("--selftest", type=int, metavar="FRAMES", help="let a bot chat")
    parser.add_argument("--screenshot", metavar="FILE", help="save the window at the end")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    pygame.init()  # before pygnetic.init(events=True): events need pygame's queue
    adapters = (args.adapter,) if args.adapter else ("enet", "socket")
    if args.websocket:  # on the same port number as TCP; left out if websockets is missing
        adapters += ("websocket",)
    if not pygnetic.init(events=True, n_module=adapters):
        return 2
    screen = pygame.display.set_mode((WIDTH, HEIGHT))
    server, host, port = None, args.host or "127.0.0.1", args.port
    if args.host_game:
        server = pygnetic.Server(
            args.host or "",
            args.port,
            handler=Relay,
            events=False,
            reconnect_grace=RECONNECT_GRACE,
        )
        # Not printed: pygnetic has logged "server listening on HOST:PORT".
        port = server.address[1]
        host = "127.0.0.1" if args.host in (None, "", "0.0.0.0") else args.host
    lan = LanGames(server, args.lan_port, args.lan_target)
    client = pygnetic.Client()
    connection = None  # a guest without --host waits for a chat on the LAN
    if server or args.host:
        connection = client.connect(host, port)  # the host's own player connects like anyone
    status = f"hosting on port {port}" if server else "searching the LAN..."
    window = ChatWindow(screen, None, status, lan)
    if args.nick:
        window.typed = args.nick
        on_enter(window, connection)
    motd = MessageOfTheDay(args.state, window) if args.state else None
    player = None
    if args.selftest:
        lines = HOST_LINES if server else GUEST_LINES
        player = bot(None if args.nick else ("Ann" if server else "Bob"), lines)
    pygame.key.start_text_input()  # ask for TEXTINPUT events: typed characters, layout-aware

    clock, frame, running, ok = pygame.time.Clock(), 0, True, False
    while running:
        if server:
            server.update()  # relay what the players said (Relay's methods run here)
        client.update()  # send what we said, post what arrived as NETWORK events
        lan.update()  # announce our chat, or hear the others'
        if motd:
            motd.state.poll()  # the state service's answers become NET_STATE_REQUEST events
        if connection is None and lan.games():
            connection = join(client, window, None, lan.games()[0])
        for e in pygame.event.get():
            if e.type == pygame.QUIT or (e.type == pygame.KEYDOWN and e.key == pygame.K_ESCAPE):
                running = False
            elif e.type == event.NETWORK and e.net_type == event.NET_STATE_REQUEST:
                motd.on_request(e.request)
            elif e.type == event.NETWORK:
                on_network(e, window)
            elif e.type == pygame.TEXTINPUT:
                window.typed = (window.typed + e.text)[:MAX_TEXT]
            elif e.type == pygame.KEYDOWN and e.key == pygame.K_RETURN:
                on_enter(window, connection)
            elif e.type == pygame.KEYDOWN and e.key == pygame.K_BACKSPACE:
                window.typed = window.typed[:-1]
            elif e.type == pygame.MOUSEWHEEL:
                window.scroll = max(0, min(len(window.rows) - 1, window.scroll + e.y))
            elif e.type == pygame.MOUSEBUTTONDOWN and e.button == 1 and lan.clicked(e.pos):
                connection = join(client, window, connection, lan.clicked(e.pos))
        pygame.display.set_caption(f"pygnetic chat - {window.status}")
        rtt = connection.round_trip_time if connection else None
        window.draw("measuring..." if rtt is None else f"{rtt:.0f} ms")
        pygame.display.flip()
        clock.tick(FPS)
        frame += 1
        if player:
            for e in next(player):
                pygame.event.post(e)
            guests = len(server.connections()) - 1 if server else 0
            ok = frame >= args.selftest and window.heard and window.said and guests <= 0
            running = running and not ok and frame < args.selftest + 20 * FPS

    if args.screenshot:
        pygame.image.save(screen, args.screenshot)
    lan.close()
    if motd:
        motd.state.close()
    client.close()  # close the network before pygame.quit(): closing posts events
    if server:
        server.close()
    pygame.quit()
    if args.selftest:
        print(f"selftest {'ok' if ok else 'FAILED'}: sent={window.said} received={window.heard}")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
