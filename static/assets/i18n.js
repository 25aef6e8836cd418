// The page's two languages: English (the strings as the code writes them) and Simplified
// Chinese (the one table below, English → Chinese). The language is the browser's unless one
// was chosen here (remembered in this browser); dates and numbers follow it. Text the page
// builds goes through `h()`, which looks every string up; strings with values in them are
// written as `t("… {name} …", { name })`. Messages from the server go through `serverText()`.

const ZH = {
  // Shell, sign-in, first run
  "Dashboard": "仪表盘", "Accounts": "账号", "Groups": "分组", "Keys": "密钥", "Requests": "请求",
  "Settings": "设置", "Audit log": "审计日志", "Sign out": "退出登录", "Skip to content": "跳到正文",
  "Username": "用户名", "Password": "密码", "Sign in": "登录", "Not an admin? ": "不是管理员？",
  "I have an API key": "我有 API 密钥", " — see your own usage.": " — 查看自己的用量。",
  "Password (at least 10 characters)": "密码（至少 10 个字符）", "Password again": "再次输入密码",
  "Welcome to aicarpool": "欢迎使用 aicarpool",
  "Choose the first admin's name and password. This link works once.": "设置第一个管理员的用户名和密码。此链接只能使用一次。",
  "Create admin and sign in": "创建管理员并登录", "The two passwords differ.": "两次输入的密码不一致。",
  "Loading…": "加载中…", "This page could not be loaded": "无法加载此页面", "Back to the list": "返回列表",
  "You have signed out.": "你已退出登录。", "Your session has ended; sign in again.": "会话已结束，请重新登录。",
  "No admin yet": "尚无管理员", "Open the one-time setup link that ": "打开 ",
  " printed in its log, or run ": " 在日志中打印的一次性设置链接，或运行 ",
  "The gateway cannot be reached.": "无法连接到网关。",
  "Theme: system": "主题：跟随系统", "Theme: dark": "主题：深色", "Theme: light": "主题：浅色",
  "Colour scheme": "配色", "Language": "语言", "aicarpool admin": "aicarpool 管理",
  // Statuses
  "ACTIVE": "正常", "DISABLED": "已停用", "MAINTENANCE": "维护中", "ERROR": "错误", "TEMP ERROR": "临时错误",
  "RATE LIMITED": "限流中", "OK": "成功", "FAILED": "失败", "active": "有效", "revoked": "已吊销",
  "upstream error": "上游错误", "client error": "客户端错误", "refused": "已拒绝", "aborted": "已中断",
  "OVER SHARE": "超出份额", "no group": "未分组",
  // Common
  "Name": "名称", "Description": "描述", "Status": "状态", "Group": "分组", "Key": "密钥", "Account": "账号",
  "Model": "模型", "Models": "模型", "Tokens": "Token", "Cost": "费用", "Time": "时间", "When": "时间",
  "Edit": "编辑", "Save": "保存", "Cancel": "取消", "Delete": "删除", "Rename": "重命名", "Remove": "移除",
  "Copy": "复制", "Copied.": "已复制。", "Done": "完成", "Close": "关闭", "Filter": "筛选", "Clear": "清除",
  "Saved.": "已保存。", "Removed.": "已移除。", "Test": "测试", "Testing…": "测试中…", "Enable": "启用",
  "Disable": "停用", "Maintenance": "维护", "Recover": "恢复", "Last used": "最近使用", "Created": "创建时间",
  "Priority": "优先级", "Weight": "权重", "Platform": "平台", "Platforms": "平台", "Why": "原因",
  "Back at": "恢复时间", "Back": "恢复", "In flight": "进行中", "Usage windows": "用量窗口",
  "Priority / weight": "优先级 / 权重", "Requests / tokens": "请求 / Token", "Nothing here yet.": "暂无内容。",
  "← Newer": "← 较新", "Older →": "较旧 →", "any": "任意", "none": "无", "—": "—",
  "Select the text and copy it by hand (the clipboard needs HTTPS).": "请手动选中并复制文本（剪贴板需要 HTTPS）。",
  "due now (at the next recovery check)": "即将恢复（下一次恢复检查时）", "unpriced": "未定价",
  "5-hour": "5 小时", "7-day": "7 天", "daily quota": "每日配额",
  // Dashboard
  "Period": "时间范围", "24 hours": "24 小时", "7 days": "7 天", "30 days": "30 天",
  "Requests are being refused: ": "请求正被拒绝：",
  "Free space on the data directory's disk; the gateway stores what it holds and accepts requests again by itself.": "请释放数据目录所在磁盘的空间；网关会写入暂存的数据，并自动重新接受请求。",
  "Error rate": "错误率", "Requests (errors in red)": "请求（红色为错误）", "Subscriptions": "订阅",
  "Out of rotation": "已移出轮换", "Every account is in rotation.": "所有账号都在轮换中。",
  "No accounts yet.": "还没有账号。", "Top keys": "用量最多的密钥", "Top groups": "用量最多的分组",
  "Breakdown": "细分", "Total": "合计", "By model": "按模型", "By key": "按密钥", "Tokens by model": "按模型的 Token",
  "Tokens by key": "按密钥的 Token", "other": "其他",
  "Top models": "用量最多的模型", "Top accounts": "用量最多的账号", "No requests in this period.": "此时间范围内没有请求。",
  "Get started": "开始使用", "Create a group (a team whose members share accounts)": "创建分组（成员共享账号的团队）",
  "create one": "去创建", "Add an upstream account for it": "为它添加上游账号", "add one": "去添加",
  "Issue a member key": "签发成员密钥", "issue one": "去签发", "Send a first request with the key": "用该密钥发出第一个请求",
  "see the settings": "查看配置", "A first request, with the key in place of ACP_KEY:": "第一个请求（把 ACP_KEY 换成密钥）：",
  // Accounts
  "Add account": "添加账号", "Anthropic API key": "Anthropic API 密钥", "Claude Console relay": "Claude Console 中转",
  "Claude subscription (sign in)": "Claude 订阅（登录）", "ChatGPT subscription for Codex (sign in)": "ChatGPT 订阅，供 Codex 使用（登录）",
  "Google account for Gemini CLI (sign in)": "Google 账号，供 Gemini CLI 使用（登录）", "OpenAI-compatible": "OpenAI 兼容",
  "Gemini API key": "Gemini API 密钥", "the subscription's Claude account": "订阅所属的 Claude 账号",
  "Paste the code it shows below": "把页面显示的代码粘贴到下方",
  "Code shown after signing in (CODE#STATE) or the callback address": "登录后显示的代码（CODE#STATE）或回调地址",
  "the ChatGPT account (Plus, Pro or Team)": "ChatGPT 账号（Plus、Pro 或 Team）",
  "The browser is then sent to a localhost address that does not load: copy that whole address from the address bar and paste it below": "随后浏览器会跳转到一个无法打开的 localhost 地址：从地址栏复制完整地址并粘贴到下方",
  "the Google account": "Google 账号", "Paste the authorization code the page shows below": "把页面显示的授权码粘贴到下方",
  "Authorization code": "授权码", "The address the browser was sent to (http://localhost:1455/auth/callback?code=…)": "浏览器跳转到的地址（http://localhost:1455/auth/callback?code=…）",
  "No group's keys can use it": "没有分组的密钥可以使用它", "No accounts yet: add one to start relaying.": "还没有账号：添加一个即可开始转发。",
  "account's": "沿用账号", "Groups it serves": "服务的分组", "No groups yet: create one on the Groups page.": "还没有分组：请先在分组页面创建。",
  "API key": "API 密钥", "Base URL": "Base URL", "official endpoint": "官方端点", "The relay's address.": "中转服务的地址。",
  "Leave empty for the platform's official endpoint.": "留空则使用平台官方端点。", "unchanged (write-only)": "不变（只写）",
  "Leave empty to keep the stored secret; it is never shown.": "留空则保留已保存的密钥；密钥永不显示。",
  "User agent": "User-Agent", "Priority (lower goes first)": "优先级（越小越先）", "Weight (share within a priority)": "权重（同优先级内的占比）",
  "Proxy": "代理", "Proxy password": "代理密码", "Models (comma-separated; empty = any)": "模型（逗号分隔；留空为任意）",
  "Model mapping (one FROM=TO per line)": "模型映射（每行一个 FROM=TO）", "Requests in flight at most (empty = no cap)": "最多同时进行的请求（留空为不限）",
  "Google Cloud project": "Google Cloud 项目", "the one Code Assist assigns": "由 Code Assist 分配",
  "Only for a Workspace or paid tier that bills a project of your own.": "仅用于按你自己的项目计费的 Workspace 或付费方案。",
  "Responses API": "Responses API", "Auto (by host)": "自动（按主机判断）", "Served": "支持", "Not served": "不支持",
  "Auto: only OpenAI's own API and Azure OpenAI serve it. Where it is not served, Responses clients (Codex CLI) are translated to chat.": "自动：只有 OpenAI 官方 API 与 Azure OpenAI 支持。不支持时，Responses 客户端（Codex CLI）的请求会转换为 chat。",
  "auto (by host)": "自动（按主机判断）", "served": "支持", "not served: translated to chat": "不支持：转换为 chat",
  "Extra usage": "额外用量", "Never draw on paid extra usage": "从不使用付费的额外用量", "Allow paid extra usage": "允许使用付费的额外用量",
  "none — e.g. socks5://user@host:1080": "无 — 例如 socks5://user@host:1080", "unchanged": "不变",
  "Get sign-in link": "获取登录链接", "Sign in to the subscription": "登录订阅", "Add subscription": "添加订阅",
  "Fetch models": "获取模型列表", "The upstream lists no models.": "上游没有列出模型。",
  "Status history": "状态历史", "From": "从", "To": "到", "By": "操作者", "No status changes.": "没有状态变化。",
  "Recent errors": "最近的错误", "Outcome": "结果", "Message": "消息", "No failed requests.": "没有失败的请求。",
  "Last error": "最近错误", "ChatGPT account": "ChatGPT 账号", "Token refresh": "Token 刷新", "allowed": "允许",
  "never: it takes no new traffic while drawing on it": "从不：使用额外用量时不接收新流量", "Model mapping": "模型映射",
  "Token expires": "Token 过期时间", "no answer": "无应答",
  // Groups
  "Daily tokens": "每日 Token", "no budget": "无预算", "Monthly tokens": "每月 Token", "Daily cost (USD)": "每日费用（美元）",
  "Monthly cost (USD)": "每月费用（美元）", "Warn at (% of a budget)": "预警阈值（预算的 %）", "New group": "新建分组",
  "Create group": "创建分组", "Save budgets": "保存预算", "Edit budgets": "编辑预算", "Budgets: ": "预算：",
  "No accounts serve this group.": "没有账号服务此分组。", "Fair share of the subscriptions' 5-hour window": "订阅 5 小时窗口的公平份额",
  "Share": "份额", "Tokens (24 h)": "Token（24 小时）", "Cost (24 h)": "费用（24 小时）", "Cost (all time)": "费用（全部）",
  "No keys in this group.": "此分组没有密钥。", "No groups yet.": "还没有分组。",
  // Keys
  "Requests per window": "每个窗口的请求数", "Window (minutes)": "窗口（分钟）", "Concurrent requests": "并发请求",
  "Queue when busy": "繁忙时排队", "Tokens per day": "每日 Token", "Tokens in total": "Token 总量",
  "Cost per day (USD)": "每日费用（美元）", "Cost per week (USD)": "每周费用（美元）", "Cost in total (USD)": "总费用（美元）",
  "Expires days after first use": "首次使用后多少天过期", "no limits": "无限制", "no limit": "不限",
  "Expires at": "过期时间", "Models (comma-separated; a trailing * matches a prefix)": "模型（逗号分隔；末尾的 * 匹配前缀）",
  "Client tools": "客户端工具", "any: claude-code, codex, gemini-cli, sdk, other": "任意：claude-code、codex、gemini-cli、sdk、other",
  "any: anthropic, claude-console, claude-oauth, codex-oauth, openai, gemini, gemini-oauth": "任意：anthropic、claude-console、claude-oauth、codex-oauth、openai、gemini、gemini-oauth",
  "Copy it now: it is shown only this once. ": "请立即复制：它只显示这一次。", "The gateway keeps only its hash.": "网关只保存它的哈希。",
  "Copy key": "复制密钥", "New key": "新建密钥", "Member / key name": "成员 / 密钥名称", "Limits (optional)": "限制（可选）",
  "Create key": "创建密钥", "Create a group first: every key belongs to one.": "请先创建分组：每个密钥都属于一个分组。",
  "Limits": "限制", "Tokens 24 h / all": "Token 24 小时 / 全部", "Cost 24 h / all": "费用 24 小时 / 全部", "Revoke": "吊销",
  "No keys yet.": "还没有密钥。", "No such key.": "没有这个密钥。", "Save limits": "保存限制", "All requests": "全部请求",
  "Recent requests": "最近的请求", "Settings for its holder": "持有者的配置",
  "The key itself was shown once when it was made; put it where these say ACP_KEY.": "密钥只在创建时显示过一次；请把它填到下面写着 ACP_KEY 的地方。",
  // Limits and usage
  "Tokens today": "今日 Token", "Cost today": "今日费用", "Cost this week": "本周费用", "Cost in total": "总费用",
  "Requests in the window": "窗口内的请求", "Requests in flight": "进行中的请求", "Group tokens today": "分组今日 Token",
  "Group tokens this month": "分组本月 Token", "Group cost today": "分组今日费用", "Group cost this month": "分组本月费用",
  "daily token limit": "每日 Token 限制", "total token limit": "Token 总量限制", "daily cost limit": "每日费用限制",
  "weekly cost limit": "每周费用限制", "total cost limit": "总费用限制", "request rate limit": "请求频率限制",
  "concurrency limit": "并发限制", "daily token budget": "每日 Token 预算", "monthly token budget": "每月 Token 预算",
  "daily cost budget": "每日费用预算", "monthly cost budget": "每月费用预算", "Blocked: the key has expired": "已受阻：密钥已过期",
  "No limits.": "没有限制。", "Limit": "限制", "Used": "已用", "Left": "剩余", "Resets": "重置时间", "Today": "今天",
  "Tokens per day": "每日 Token", "Cost per day": "每日费用", "Limits and what is left": "限制与剩余",
  "No limits: only the group's budgets and the pool's capacity apply.": "没有限制：只受分组预算和号池容量约束。",
  "By model (30 days)": "按模型（30 天）", "Nothing used in 30 days.": "30 天内没有用量。", "No requests yet.": "还没有请求。",
  "Endpoint": "端点", "Client": "客户端",
  // Member page
  "Your API key": "你的 API 密钥", "Your usage": "你的用量",
  "Enter the API key your team gave you to see what you have used and what is left. It stays in this browser tab only.": "输入团队发给你的 API 密钥，查看已用和剩余的额度。密钥只保存在当前浏览器标签页中。",
  "Show my usage": "查看我的用量", "Sign in as an admin instead": "改为以管理员登录", "Forget my key": "忘记我的密钥",
  "Your recent requests": "你最近的请求", "Settings for your tools": "你的工具配置",
  // Request log
  "Request id": "请求 ID", "from x-aicarpool-request-id": "来自 x-aicarpool-request-id", "Tokens in / out": "Token 输入 / 输出",
  "Cache write / read": "缓存写入 / 读取", "Took": "耗时", "Error": "错误", "No requests match.": "没有匹配的请求。",
  "Export CSV": "导出 CSV", "Request log": "请求日志", "errors": "错误",
  "Attempts that failed first": "先前失败的尝试", "None: the first account tried answered.": "无：第一个尝试的账号就已应答。",
  // Audit
  "Who": "操作者", "What": "操作", "Target": "对象", "Detail": "详情", "Nothing has been changed yet.": "还没有任何更改。",
  // Settings
  "Server errors that take an account out": "使账号移出轮换的服务器错误数", "Error window (s)": "错误窗口（秒）",
  "Cooldown before an account returns (s)": "账号恢复前的冷却时间（秒）", "Recovery check every (s)": "恢复检查间隔（秒）",
  "Attempts per request (failover)": "每个请求的尝试次数（故障转移）", "Upstream connect timeout (s)": "上游连接超时（秒）",
  "Upstream first-byte timeout (s)": "上游首字节超时（秒）", "Upstream idle gap in a stream (s)": "流中上游空闲间隔（秒）",
  "Sticky session lifetime (s)": "会话粘滞时长（秒）", "Rate-limit pause without a reset header (s)": "无重置头时的限流暂停（秒）",
  "Longest rate-limit pause (s)": "最长限流暂停（秒）", "Listening on": "监听地址", "Largest request body (bytes)": "最大请求体（字节）",
  "Longest wait for a concurrency slot (s)": "等待并发名额的最长时间（秒）", "Drain time at shutdown (s)": "关闭时的排空时间（秒）",
  "Input": "输入", "Output": "输出", "Cache write (5 min)": "缓存写入（5 分钟）", "Cache write (1 h)": "缓存写入（1 小时）",
  "Cache read": "缓存读取", "Save price": "保存价格", "Save policy": "保存策略",
  "Back to the environment's values.": "已恢复为环境变量的值。", "Use the environment's values": "使用环境变量的值",
  "Account policy saved; in force now.": "账号策略已保存，立即生效。", "New password (at least 10 characters)": "新密码（至少 10 个字符）",
  "Create admin or set password": "创建管理员或设置密码", "Account health": "账号健康",
  "When server errors take an account out of rotation and when it comes back. Changes apply at once and outlive restarts.": "服务器错误何时使账号移出轮换、何时恢复。更改立即生效，重启后保留。",
  "Service": "服务", "These are set in the service's environment file (": "这些在服务的环境变量文件中设置（",
  ") and take effect on restart.": "），重启后生效。", "Setting": "设置项", "Value": "值", "Variable": "变量",
  "Time zone (days and budgets)": "时区（天与预算）", "TLS": "TLS", "on": "开启",
  "off (put a TLS proxy in front, or use --tls-cert/--tls-key)": "关闭（在前面放一个 TLS 代理，或使用 --tls-cert/--tls-key）",
  "Data directory": "数据目录", "Version": "版本", "Model prices (USD per million tokens)": "模型价格（美元 / 百万 Token）",
  "Cache write 5 min": "缓存写入 5 分钟", "Cache write 1 h": "缓存写入 1 小时",
  "No prices: every request is logged as unpriced.": "没有价格：所有请求都记为未定价。", "Set a price": "设置价格",
  "Admins": "管理员", "Since": "创建于",
  // Snippets
  "Codex CLI: shell": "Codex CLI：命令行", "Gemini CLI: shell": "Gemini CLI：命令行",
  "Claude Code": "Claude Code", "Codex CLI: ~/.codex/config.toml": "Codex CLI：~/.codex/config.toml",
  "Gemini CLI: ~/.gemini/settings.json": "Gemini CLI：~/.gemini/settings.json",
  "Anthropic SDK (Python)": "Anthropic SDK（Python）", "OpenAI SDK (Python)": "OpenAI SDK（Python）",
  "Google GenAI SDK (Python)": "Google GenAI SDK（Python）",
  // Sentences with values
  "Added {name}.": "已添加 {name}。", "Edit {name}": "编辑 {name}", "Deleted {name}.": "已删除 {name}。",
  "Renamed to {name}.": "已重命名为 {name}。", "Created {name}.": "已创建 {name}。", "Revoked {name}.": "已吊销 {name}。",
  "New name for {name}:": "{name} 的新名称：", "Key for {name}": "{name} 的密钥", "Limits of {name}": "{name} 的限制",
  "Accounts ({n})": "账号（{n}）", "Members' keys ({n})": "成员密钥（{n}）", "{n} group": "{n} 个分组", "{n} groups": "{n} 个分组",
  "{n} requests · {cost}": "{n} 个请求 · {cost}", "{in} in · {out} out": "输入 {in} · 输出 {out}",
  "Blocked by its {what} until {when}": "受其{what}限制，直到 {when}", "Blocked by its {what}": "受其{what}限制",
  "Blocked by the group's {what} until {when}": "受分组{what}限制，直到 {when}", "Blocked by the group's {what}": "受分组{what}限制",
  "1. Open this link, sign in with {who} and approve:": "1. 打开此链接，用{who}登录并授权：",
  "2. {paste} (the link works until {when}).": "2. {paste}（链接有效期至 {when}）。",
  "Delete {name}? It leaves rotation and every group now; its request log and history stay.": "删除 {name}？它会立即移出轮换和所有分组；请求日志和历史会保留。",
  "Delete {name}? Its request log and history stay.": "删除 {name}？请求日志和历史会保留。",
  "{message}.\n\nDelete it anyway?": "{message}。\n\n仍要删除吗？",
  "Delete {name}? It stops working at once; its request log and history stay.": "删除 {name}？它会立即失效；请求日志和历史会保留。",
  "Revoke {name}? Its holder loses access at once.": "吊销 {name}？持有者会立即失去访问权限。",
  "The upstream offers {n} model(s); save to keep them.": "上游提供 {n} 个模型；保存后生效。",
  "{name}: {status}.": "{name}：{status}。", "Request {id}": "请求 {id}", "first byte after {n} ms": "{n} 毫秒后收到首字节",
  "Price of {model} saved.": "{model} 的价格已保存。", "Remove the price of {model}? Its requests will be logged as unpriced.": "移除 {model} 的价格？它的请求将记为未定价。",
  "Admin {name} created.": "已创建管理员 {name}。", "Password of {name} changed; their sessions ended.": "{name} 的密码已更改，其会话已结束。",
  "Environment ({variable}): {value}": "环境变量（{variable}）：{value}", " — changed here": " — 已在此处更改",
  "created {when} · last used {used}": "创建于 {when} · 最近使用 {used}", "last used {when}": "最近使用 {when}",
  "expires {when}": "{when} 过期", "{n} unpriced": "{n} 个未定价", "{n} at once": "同时 {n} 个", "tokens/day": "Token/天",
  "tokens/month": "Token/月", "/day": "/天", "/week": "/周", "/month": "/月", "total": "总计",
  "(warn at {n}%)": "（{n}% 时预警）", "{name} window: {p}% used": "{name}窗口：已用 {p}%", "resets {when}": "{when}重置",
  "{status} in {ms} ms with {model}: {message}; now": "{status}，耗时 {ms} 毫秒，模型 {model}：{message}；当前", "fine": "正常",
  "{message}.": "{message}。", "(translated)": "（已转换）", "stream": "流式", "cache": "缓存",
};

// What the server writes: its messages as format strings, every value shown as {}, and the
// Chinese naming the values {1}, {2}… in their English order. tests/i18n.rs reads the server's
// source and fails when a message the admin API can send is missing here.
const ZH_SERVER = {
  "--console is for claude-oauth sign-ins": "--console 仅用于 claude-oauth 登录",
  "--expires-at is in the past": "过期时间已经过去",
  "--model-map {} has a space in a model name": "模型映射 {1} 的模型名含有空格",
  "--model-map {} is not FROM=TO": "模型映射 {1} 不是 FROM=TO 格式",
  "--platform is required": "必须选择平台",
  "--queue must not be negative": "排队数不能为负",
  "--queue needs --concurrency": "设置排队数需要同时设置并发上限",
  "a codex-oauth account needs its ChatGPT account id, and this access token names none: paste the access token from ~/.codex/auth.json, or sign in with oauth-url": "codex-oauth 账号需要 ChatGPT 账号 ID，而此访问令牌中没有：请粘贴 ~/.codex/auth.json 中的访问令牌，或通过登录链接登录",
  "a new proxy password needs the proxy URL too": "设置新的代理密码时也需要填写代理 URL",
  "a proxy password needs a proxy URL": "代理密码需要代理 URL",
  "only an openai account has a Responses API setting": "只有 openai 账户才有 Responses API 设置",
  "a request limit needs both a number of requests and a window in minutes": "请求次数限制需要同时填写请求数和窗口分钟数",
  "a {} account needs --base-url (the relay's address)": "{1} 账号需要 Base URL（中转服务的地址）",
  "a {} account needs a base URL": "{1} 账号需要 Base URL",
  "account {} has no credentials": "账号 {1} 没有凭据",
  "account {}: {}": "账号 {1}：{2}",
  "an admin already exists: sign in instead": "管理员已存在：请直接登录",
  "backup path must be UTF-8": "备份路径必须是 UTF-8",
  "base URL {} {}": "Base URL {1} {2}",
  "is not a URL": "不是有效的 URL",
  "group vanished": "分组已不存在",
  "group {} still has {}; deleting it deletes its keys and unbinds its accounts: confirm to go ahead": "分组 {1} 仍有 {2}；删除它会删除其密钥并解除其账号绑定：确认后继续",
  "{} key(s) ({})": "{1} 个密钥（{2}）", "{} account(s) ({})": "{1} 个账号（{2}）", "{} and {}": "{1}和{2}",
  "max concurrency must be 1 to 10000 (got {})": "最大并发必须在 1 到 10000 之间（收到 {1}）",
  "method not allowed here": "此处不允许该方法",
  "missing or wrong CSRF token": "CSRF 令牌缺失或错误",
  "model name must be 1–200 printable characters": "模型名必须是 1 到 200 个可打印字符",
  "no account with id {}": "没有 ID 为 {1} 的账号",
  "no group named {}": "没有名为 {1} 的分组",
  "no group with id {}": "没有 ID 为 {1} 的分组",
  "no key with id {}": "没有 ID 为 {1} 的密钥",
  "no price for model {}": "模型 {1} 没有价格",
  "no such admin endpoint": "没有这个管理接口",
  "no such id": "没有这个 ID",
  "nothing to change: give a budget flag": "没有可更改的内容：请至少填写一项预算",
  "only gemini-oauth accounts take a Google Cloud project": "只有 gemini-oauth 账号可以设置 Google Cloud 项目",
  "only subscription accounts (claude-oauth, codex-oauth, gemini-oauth) take a refresh token": "只有订阅账号（claude-oauth、codex-oauth、gemini-oauth）可以设置刷新令牌",
  "paste the code shown after signing in (CODE#STATE for Claude) or the whole address the browser was sent to": "请粘贴登录后显示的代码（Claude 为 CODE#STATE），或浏览器跳转到的完整地址",
  "priority {} is out of range (0 to 1000000, lower goes first)": "优先级 {1} 超出范围（0 到 1000000，越小越先）",
  "proxy URL has a password and a separate password was given too": "代理 URL 已含密码，又另外填写了密码",
  "proxy URL has a password but no user name": "代理 URL 有密码但没有用户名",
  "refused": "已拒绝",
  "request body: {}": "请求体：{1}",
  "send the body as application/json": "请以 application/json 发送请求体",
  "sign in first": "请先登录",
  "the account secret contains spaces or control characters": "账号密钥含有空格或控制字符",
  "the account's secret is empty": "账号密钥为空",
  "the admin vanished": "该管理员已不存在",
  "the authorization code was refused: {}": "授权码被拒绝：{1}",
  "the model list could not be fetched: {}": "无法获取模型列表：{1}",
  "the password is too long": "密码太长",
  "the password must have at least {} characters": "密码至少需要 {1} 个字符",
  "the request body did not arrive in time": "请求体未能及时到达",
  "the request body is too large": "请求体太大",
  "the server could not complete this request (reference {} in its log)": "服务器无法完成此请求（日志中的参考编号为 {1}）",
  "the sign-in names no ChatGPT account (is it a ChatGPT Plus, Pro or Team login?)": "此次登录没有对应的 ChatGPT 账号（是否为 ChatGPT Plus、Pro 或 Team 账号？）",
  "the warning percent must be 1 to 100": "预警百分比必须在 1 到 100 之间",
  "this link was made for a {} account": "此链接是为 {1} 账号生成的",
  "this authorization link is unknown or expired; make a new sign-in link": "此授权链接未知或已过期；请重新生成登录链接",
  "no single sign-in link is waiting for this code; paste the whole address the browser was sent to, or make a new sign-in link": "没有唯一等待此代码的登录链接；请粘贴浏览器跳转到的完整地址，或重新生成登录链接",
  "this setup link is wrong or has expired; restart the service for a new one, or set a password with the command aicarpool admin set-password": "此设置链接错误或已过期；请重启服务以获取新链接，或用 aicarpool admin set-password 命令设置密码",
  "too many failed sign-ins; try again in {}": "登录失败次数过多；请在 {1} 后重试",
  "unknown action {} (enable, disable, maintenance or recover)": "未知操作 {1}（enable、disable、maintenance 或 recover）",
  "unknown breakdown {} (model or key)": "未知细分方式 {1}（model 或 key）",
  "unknown grouping {} (key, account, model or group)": "未知分组方式 {1}（key、account、model 或 group）",
  "unknown range {} (24h, 7d or 30d)": "未知时间范围 {1}（24h、7d 或 30d）",
  "upstream CA file {}: {}": "上游 CA 文件 {1}：{2}",
  "username must be 1-64 characters of letters, digits, '.', '_', '-' or '@'": "用户名必须是 1 到 64 个字母、数字、“.”、“_”、“-”或“@”",
  "weight {} is out of range (1 to 1000000)": "权重 {1} 超出范围（1 到 1000000）",
  "wrong username or password": "用户名或密码错误",
  "{} is above the largest budget": "{1}超过了最大预算",
  "{} is at most {}": "{1}最多为 {2}",
  "{} must be greater than zero (leave it empty, or none, for no budget)": "{1}必须大于零（留空或填 none 表示不设预算）",
  "{} must be greater than zero (leave it empty, or none, for no limit)": "{1}必须大于零（留空或填 none 表示不限）",
  "{} is not a model name": "{1} 不是模型名",
  "{} must be a whole number": "{1} 必须是整数",
  "{} accounts have no sign-in; sign-in is for claude-oauth, codex-oauth and gemini-oauth": "{1} 账号无需登录；登录仅用于 claude-oauth、codex-oauth 和 gemini-oauth",
  "{} must be 1 to {}": "{1}必须在 1 到 {2} 之间",
  "{} name is longer than 100 characters": "{1}名称超过 100 个字符",
  "{} name must not be empty": "{1}名称不能为空",
  "{} name must not contain control characters": "{1}名称不能含有控制字符",
  "{}: {}": "{1}：{2}",
  "{}: {} per million tokens is finer than $0.001": "{1}：每百万 Token {2} 的精度超过了 $0.001",
  "{} already exists": "{1} 已存在",
  "a group named {} already exists": "已存在名为 {1} 的分组",
  "an account named {} already exists": "已存在名为 {1} 的账号",
  "group {} already has a key named {}": "分组 {1} 已有名为 {2} 的密钥",
  "missing API key: send it in x-api-key, Authorization: Bearer, x-goog-api-key or ?key=": "缺少 API 密钥：请通过 x-api-key、Authorization: Bearer、x-goog-api-key 或 ?key= 发送",
  "conflicting API keys: the request carries two different keys": "API 密钥冲突：请求中带有两个不同的密钥",
  "unknown {} {} (expected one of: {})": "未知的{1} {2}（应为以下之一：{3}）",
  "invalid API key": "API 密钥无效", "this API key has been revoked": "此 API 密钥已被吊销",
  "this API key has expired": "此 API 密钥已过期",
  // The values the messages above name.
  "the daily tokens": "每日 Token", "the daily cost": "每日费用", "the weekly cost": "每周费用",
  "the monthly cost": "每月费用", "the monthly tokens": "每月 Token", "the total cost": "总费用",
  "the error threshold": "错误阈值", "the error window in seconds": "错误窗口（秒）",
  "the cooldown in seconds": "冷却时间（秒）", "the recovery interval in seconds": "恢复检查间隔（秒）",
  "group": "分组", "key": "密钥", "account": "账号", "admin": "管理员",
};

const TABLES = { zh: ZH };

/** The language in force: the one chosen here, else the browser's first of ours. */
function pick() {
  const chosen = localStorage.getItem("aicarpool.lang");
  if (chosen === "zh" || chosen === "en") return chosen;
  const wanted = navigator.languages?.length ? navigator.languages : [navigator.language || "en"];
  for (const l of wanted) {
    if (/^zh\b/i.test(l)) return "zh";
    if (/^en\b/i.test(l)) return "en";
  }
  return "en";
}

let lang = pick();
document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";

export const language = () => lang;

/** The locale dates and numbers are written in. */
export const locale = () => (lang === "zh" ? "zh-CN" : "en-US");

/** `s` in the current language, with `{name}` filled from `vars`. */
export function t(s, vars) {
  let out = TABLES[lang]?.[s] ?? s;
  if (vars) out = out.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return out;
}

/** A string of the page's own, translated when the table has it (data passes as it is). */
export function tr(s) {
  return TABLES[lang]?.[s] ?? s;
}

let serverPatterns = null;

/** Each server message as a pattern, the most specific (most fixed text) first. */
function patterns() {
  if (serverPatterns) return serverPatterns;
  const escape = (x) => x.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  serverPatterns = Object.entries(ZH_SERVER)
    .filter(([en]) => en.includes("{}"))
    .map(([en, cn]) => ({
      re: new RegExp(`^${en.split("{}").map(escape).join("(.+?)")}$`, "s"),
      fixed: en.replaceAll("{}", "").length,
      cn,
    }))
    .sort((a, b) => b.fixed - a.fixed);
  return serverPatterns;
}

/** A message from the server in the current language; the values it names are looked up too. */
export function serverText(message, depth = 0) {
  if (lang === "en" || !message) return message;
  const exact = ZH_SERVER[message] ?? ZH[message];
  if (exact) return exact;
  if (depth > 2) return message;
  for (const p of patterns()) {
    const m = p.re.exec(message);
    if (m) return p.cn.replace(/\{(\d)\}/g, (_, i) => serverText(m[Number(i)], depth + 1));
  }
  return message;
}

/** Switches the language, remembered in this browser, and redraws. */
export function setLanguage(l) {
  localStorage.setItem("aicarpool.lang", l);
  lang = l;
  document.documentElement.lang = l === "zh" ? "zh-CN" : "en";
}

/** Every key of the Chinese table (tests check the page's strings against it). */
export const tableKeys = () => Object.keys(ZH);
